"""The shared request budget against the sandbox's 10 requests/s per key, 100 ms latency.

    python bench/budget.py [--size reference] [--database-url URL] [--skip-full]

Everything runs as real processes: `partnersync sandbox`, and `partnersync sync …` children
that share one Northpass key through one MariaDB scratch database. It prints:

1. one process, default settings, full `sync all`: wall time ÷ (requests ÷ 10);
2. two, then three processes running Northpass-heavy full tasks at once (`sync_users`,
   `sync_groups`, `sync_enrollments`): over the time all of them run, the most requests the
   sandbox saw in any one second, the 429 share, and the aggregate requests/s;
3. a foreign consumer (this script, plain HTTP with the same key) taking 5 requests/s for a
   minute while `sync_enrollments --full` runs: partnersync's requests/s per second, how long
   until it is ≤ 5/s, and how long after the foreign consumer stops until it is ≥ 9/s again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from partnersync.sandbox.knobs import busiest_second
from scratch import empty_mariadb_database

VENDOR_LIMIT = 10.0
LATENCY_MS = 100
PARTNERSYNC = [str(Path(sys.executable).with_name("partnersync"))]


class Sandbox:
    """`partnersync sandbox` in a child process, at 10 requests/s per key and 100 ms."""

    def __init__(self, size: str) -> None:
        self.env_file = Path(tempfile.mkdtemp()) / "sandbox.env"
        self.process = subprocess.Popen(
            [
                *PARTNERSYNC,
                "sandbox",
                "--size",
                size,
                "--port",
                "0",
                "--env-file",
                str(self.env_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 600
        while not self.env_file.exists() or "IMPARTNER_TENANT_ID" not in self.env_file.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not start: {self.process.stderr}")
            time.sleep(0.5)
        self.env = dict(
            line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line
        )
        self.base_url = self.env["NORTHPASS_BASE_URL"]
        self.key = self.env["NORTHPASS_API_KEY"]
        knobs = {"latency_ms": LATENCY_MS, "rate_limit_per_second": VENDOR_LIMIT}
        httpx.post(f"{self.base_url}/_sandbox/knobs", json=knobs).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_sandbox/reset-counters").raise_for_status()

    def arrivals(self) -> list[float]:
        times: list[float] = httpx.get(
            f"{self.base_url}/_sandbox/arrivals", params={"api": "northpass"}, timeout=60
        ).json()["times"]
        return sorted(times)

    def refused(self) -> int:
        stats = httpx.get(f"{self.base_url}/_sandbox/stats").json()
        return sum(
            route["by_status"].get("429", 0)
            for name, route in stats["routes"].items()
            if "/v2/" in name
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def busiest_within(times: Sequence[float], start: float, end: float) -> int:
    return busiest_second(t for t in times if start <= t < end)


def environment(sandbox: Sandbox, database_url: str) -> dict[str, str]:
    return {**os.environ, **sandbox.env, "PARTNERSYNC_DATABASE_URL": database_url}


def sync(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PARTNERSYNC, "sync", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def requests_of_last_runs(database_url: str, runs: int) -> dict[str, int]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        details = connection.execute(
            text("SELECT details FROM sync_logs ORDER BY id DESC LIMIT :n"), {"n": runs}
        ).scalars()
        totals: Counter[str] = Counter()
        for detail in details:
            for api, stats in (
                (json.loads(detail) if isinstance(detail, str) else detail or {})
                .get("api", {})
                .items()
            ):
                totals[api] += stats["requests"]
    engine.dispose()
    return dict(totals)


def one_process_full_sync(sandbox: Sandbox, env: dict[str, str], database_url: str) -> None:
    started = time.monotonic()
    process = sync(env, "all", "--full")
    _, errors = process.communicate()
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"sync all failed: {errors.strip()}")
    requests = requests_of_last_runs(database_url, 7)
    total = sum(requests.values())
    print(
        json.dumps(
            {
                "case": "one process, sync all --full",
                "requests": requests,
                "wall_s": round(wall, 1),
                "wall_over_requests_at_10_per_s": round(wall / (total / VENDOR_LIMIT), 3),
                "refused_429": sandbox.refused(),
            }
        ),
        flush=True,
    )


def processes_at_once(sandbox: Sandbox, env: dict[str, str], tasks: Sequence[str]) -> None:
    sandbox.reset()
    children = [sync(env, task, "--full") for task in tasks]
    started = time.time()
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    ended = time.time()
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # the window is over: the rest stop, recorded
    for child in children:
        child.wait(timeout=60)
    times = sandbox.arrivals()
    start = started + 3  # every child has joined the key's consumers by then
    inside = [t for t in times if start <= t < ended]
    refused = sandbox.refused()
    print(
        json.dumps(
            {
                "case": f"{len(tasks)} processes at once: {', '.join(tasks)}",
                "window_s": round(ended - start, 1),
                "requests_in_window": len(inside),
                "aggregate_per_s": round(len(inside) / (ended - start), 2),
                "busiest_second": busiest_within(times, start, ended),
                "busiest_second_whole_run": busiest_within(times, started - 1, ended + 60),
                "refused_429": refused,
                "refused_share": round(refused / max(1, len(times)), 4),
            }
        ),
        flush=True,
    )


def foreign_consumer(sandbox: Sandbox, env: dict[str, str]) -> None:
    sandbox.reset()
    child = sync(env, "sync_enrollments", "--full")
    time.sleep(20)  # partnersync alone first
    sent: list[float] = []
    stop = threading.Event()

    def foreign() -> None:
        with httpx.Client(base_url=sandbox.base_url, headers={"X-Api-Key": sandbox.key}) as http:
            next_at = time.time()
            while not stop.is_set():
                sent.append(time.time())
                http.get("/v2/courses", params={"limit": "1"})
                next_at += 1 / 5
                time.sleep(max(0.0, next_at - time.time()))

    thread = threading.Thread(target=foreign)
    foreign_from = time.time()
    thread.start()
    time.sleep(60)
    stop.set()
    thread.join()
    foreign_to = time.time()
    time.sleep(40)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    times = sandbox.arrivals()
    origin = int(foreign_from) - 20
    total = Counter(int(t) - origin for t in times)
    theirs = Counter(int(t) - origin for t in sent)
    ours = {s: total[s] - theirs[s] for s in range(0, int(foreign_to) - origin + 40)}

    def smooth(second: int) -> float:
        return sum(ours.get(second - k, 0) for k in range(3)) / 3

    start, stop_at = int(foreign_from) - origin, int(foreign_to) - origin
    down = next((s - start for s in range(start, stop_at) if smooth(s) <= 5.0), None)
    up = next((s - stop_at for s in range(stop_at, stop_at + 40) if smooth(s) >= 9.0), None)
    during = [ours[s] for s in range(start + 10, stop_at)]
    print(
        json.dumps(
            {
                "case": "foreign consumer at 5/s for 60 s during sync_enrollments --full",
                "partnersync_per_second": [ours[s] for s in sorted(ours)],
                "foreign_sent": len(sent),
                "seconds_until_at_most_5_per_s": down,
                "partnersync_mean_per_s_while_shared": round(sum(during) / max(1, len(during)), 2),
                "seconds_until_at_least_9_per_s_after": up,
                "refused_429": sandbox.refused(),
            }
        ),
        flush=True,
    )


def populate(sandbox: Sandbox, env: dict[str, str]) -> None:
    """Fill the database for the sharing cases quickly: no vendor limit while it runs."""
    knobs = f"{sandbox.base_url}/_sandbox/knobs"
    httpx.post(knobs, json={"rate_limit_per_second": None}).raise_for_status()
    fast = {**env, "NORTHPASS_RATE_PER_SECOND": "200", "NORTHPASS_RATE_CEILING": "200"}
    subprocess.run(
        [*PARTNERSYNC, "sync", "all", "--full"], env=fast, check=True, capture_output=True
    )
    httpx.post(knobs, json={"rate_limit_per_second": VENDOR_LIMIT}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="reference")
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument(
        "--skip-full", action="store_true", help="only the sharing cases (filled without a limit)"
    )
    args = parser.parse_args()
    database_url = empty_mariadb_database(args.database_url, "partnersync_bench_budget")
    sandbox = Sandbox(args.size)
    env = environment(sandbox, database_url)
    try:
        subprocess.run([*PARTNERSYNC, "migrate"], env=env, check=True, capture_output=True)
        print(
            f"size {args.size}; sandbox {VENDOR_LIMIT:.0f} req/s per key, {LATENCY_MS} ms",
            flush=True,
        )
        if args.skip_full:
            subprocess.run(
                [*PARTNERSYNC, "sync", "all", "--full"], env=env, check=True, capture_output=True
            )
        else:
            one_process_full_sync(sandbox, env, database_url)
        processes_at_once(sandbox, env, ["sync_users", "sync_groups"])
        processes_at_once(sandbox, env, ["sync_users", "sync_groups", "sync_enrollments"])
        foreign_consumer(sandbox, env)
    finally:
        sandbox.stop()
        with create_engine(make_url(args.database_url)).connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS partnersync_bench_budget"))


if __name__ == "__main__":
    main()
