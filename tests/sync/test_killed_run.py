"""A run killed with SIGKILL mid-stream loses nothing and is recovered after its lease expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select

from partnersync.db.schema import lms_users, sync_logs, sync_state
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks.leases import ABANDONED

from .conftest import run

SCRIPT = Path(sys.executable).with_name("partnersync")


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_sigkill_mid_stream_keeps_data_and_watermark_then_recovers(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    sandbox.set_knobs(latency_ms=300)
    env = {
        **os.environ,
        "PARTNERSYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "NORTHPASS_BASE_URL": sandbox.base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "NORTHPASS_PAGE_SIZE": "5",
        "PARTNERSYNC_LEASE_SECONDS": "3",
    }
    process = subprocess.Popen(
        [str(SCRIPT), "sync", "sync_users", "--full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def rows() -> int:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(lms_users)) or 0

    try:
        wait_for(lambda: rows() >= 10)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    written = rows()
    assert 10 <= written < len(sandbox.dataset.people)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(sync_state)) == 0
        assert connection.execute(select(sync_logs.c.status)).scalar_one() == "running"

    sandbox.set_knobs(latency_ms=0)
    time.sleep(3.1)  # the dead run's lease expires
    outcome = run(engine, sandbox, "sync_users", "full")
    assert outcome.status == "success"
    assert rows() == len(sandbox.dataset.people)
    with engine.connect() as connection:
        statuses = connection.execute(
            select(sync_logs.c.status, sync_logs.c.error_message).order_by(sync_logs.c.id)
        ).all()
    assert statuses == [("failed", ABANDONED), ("success", None)]
