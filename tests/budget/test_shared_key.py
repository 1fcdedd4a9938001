"""Real processes sharing one Northpass key against the sandbox's per-key limit (10/s): the
shared budget keeps the key under the vendor's limit together, backs off after 429s and rises
again, all through MariaDB."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from partnersync.budget import ledger
from partnersync.budget.coordinator import shared_limiter
from partnersync.clients import NorthpassClient
from partnersync.clients.retry import RetryPolicy
from partnersync.clients.settings import NorthpassSettings
from partnersync.db.schema import api_consumers
from partnersync.sandbox.server import RunningSandbox, running_sandbox
from tests.conftest import empty_database

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(size="tiny", seed=3, rate_limit_per_second=LIMIT) as sb:
        yield sb


def arrivals(sb: RunningSandbox) -> dict[str, Any]:
    return httpx.get(f"{sb.base_url}/_sandbox/arrivals", params={"api": "northpass"}).json()


def start_worker(
    engine: Engine, sb: RunningSandbox, requests: int, rate: float
) -> subprocess.Popen[str]:
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.budget.worker",
            url,
            sb.base_url,
            sb.northpass_key,
            str(requests),
            str(rate),
            str(LIMIT),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def engine(mariadb_engine: Engine) -> Engine:
    """MariaDB only: what replicas share in production (the bookkeeping itself is tested on
    both backends in test_ledger.py)."""
    empty_database(mariadb_engine)
    return mariadb_engine


def test_two_processes_on_one_key_stay_under_the_vendors_limit_together(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    workers = [start_worker(engine, sandbox, 30, 8.0) for _ in range(2)]
    stats = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        stats.append(json.loads(out))
    sent = sum(s["requests"] for s in stats)
    refused = sum(s["rate_limited"] for s in stats)
    assert sent >= 60
    assert refused <= sent // 100 + 1, stats
    assert arrivals(sandbox)["busiest_second"] <= LIMIT + 1
    with engine.connect() as connection:
        [key] = ledger.usage(connection)
    assert key.requests == sent and key.consumers == 0  # both left when they were done


def test_a_process_sending_too_fast_backs_off_on_429_and_the_key_is_told(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    """Started at twice what the vendor allows: the first 429s cut the budget, and the run
    ends with few refusals instead of living on them."""
    settings = NorthpassSettings(
        base_url=sandbox.base_url,
        api_key=SecretStr(sandbox.northpass_key),
        rate_per_second=20.0,
        rate_ceiling=20.0,
        concurrency=8,
        retry=RetryPolicy(max_attempts=30, wait_initial_s=0.05, wait_max_s=1.0, wait_jitter_s=0.05),
    )

    async def run() -> tuple[dict[str, int], float]:
        limiter = shared_limiter(engine, "northpass", settings, interval=0.2)
        async with NorthpassClient(settings, limiter=limiter) as client:
            calls = [client.get("/v2/courses", [("limit", "1")]) for _ in range(40)]
            await asyncio.gather(*calls)
            return client.stats.as_dict(), limiter.rate

    stats, rate = asyncio.run(run())
    assert 0 < stats["rate_limited"] <= 10
    assert rate < 20.0
    with engine.connect() as connection:
        [key] = ledger.usage(connection)
    assert key.budget < 20.0 and key.rate_limited == stats["rate_limited"]


def test_the_budget_rises_toward_the_ceiling_while_nothing_is_refused(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    settings = NorthpassSettings(
        base_url=sandbox.base_url,
        api_key=SecretStr(sandbox.northpass_key),
        rate_per_second=4.0,
        rate_ceiling=LIMIT,
        concurrency=4,
    )

    async def run() -> tuple[float, float]:
        limiter = shared_limiter(engine, "northpass", settings, interval=0.2)
        async with NorthpassClient(settings, limiter=limiter) as client:
            started = time.monotonic()
            await asyncio.gather(*(client.get("/v2/courses", [("limit", "1")]) for _ in range(20)))
            assert client.stats.rate_limited == 0
            return limiter.rate, time.monotonic() - started

    rate, elapsed = asyncio.run(run())
    assert rate > 4.0 + 0.5 * (elapsed - 1.0)  # the pace of the rise, less a beat of slack


def test_a_killed_process_drops_out_and_the_survivor_takes_the_whole_budget(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    doomed = start_worker(engine, sandbox, 200, 8.0)
    survivor = start_worker(engine, sandbox, 60, 8.0)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and consumers(engine) < 2:
            time.sleep(0.1)
        assert consumers(engine) == 2
        doomed.kill()  # SIGKILL: no leave, no last beat
        doomed.wait()
        deadline = time.monotonic() + 5  # expiry is 6 beats of 0.25 s
        while time.monotonic() < deadline and consumers(engine) != 1:
            time.sleep(0.1)
        assert consumers(engine) == 1
        time.sleep(0.6)  # two beats of the survivor
        with engine.connect() as connection:
            share = connection.scalars(
                select(api_consumers.c.share).order_by(api_consumers.c.heartbeat_at.desc())
            ).first()
        assert share is not None and share > 8.0
    finally:
        for worker in (doomed, survivor):
            worker.kill()
            worker.communicate()


def consumers(engine: Engine) -> int:
    with engine.connect() as connection:
        return sum(key.consumers for key in ledger.usage(connection))
