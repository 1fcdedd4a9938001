"""Benchmark: does the API stay responsive while a full sync runs? GET /api/tasks latency.

Serves the sandbox (demo size, 100 ms latency, 10 requests/s per key) from this process,
migrates a scratch MariaDB database and starts `partnersync serve` (scheduler + API) as a
child process with every task disabled, so only the runs asked for here execute. A thread
then runs the pull tasks of `sync all` in full mode, one after another, through
`POST /api/tasks/{task}/run`, while the main thread requests `GET /api/tasks` at a steady
rate and times each answer. Prints p50/p95/p99 over the requests made while a run was going.

    .venv/bin/python bench/api_latency.py [--seconds 30] [--rate 10] [--mariadb URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import update

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import scheduled_tasks
from partnersync.sandbox.server import running_sandbox
from partnersync.tasks.registry import TASKS
from scratch import empty_mariadb_database

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAIN = tuple(task.name for task in TASKS if task.is_pull)


def scratch_database(server_url: str, name: str) -> str:
    url = empty_mariadb_database(server_url, name)
    engine = make_engine(url)
    migrate(engine, TASKS)
    with engine.begin() as connection:
        connection.execute(update(scheduled_tasks).values(enabled=False))
    engine.dispose()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_chain(base: str, done: threading.Event, results: list[str]) -> None:
    """The pull tasks in dependency order, full mode, each started when the last finished."""
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        for task in CHAIN:
            started = time.monotonic()
            run_id = client.post(f"/api/tasks/{task}/run", params={"mode": "full"}).json()["run_id"]
            while (run := client.get(f"/api/sync-logs/{run_id}").json())["status"] == "running":
                time.sleep(0.5)
            results.append(
                f"{task:<18} {run['status']:<8} {time.monotonic() - started:6.1f} s  "
                f"{run['records_processed']:>6} records  {run['api_requests']:>5} requests"
            )
    done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="GET /api/tasks per second")
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()

    url = scratch_database(args.mariadb, "partnersync_bench_api")
    with running_sandbox(size="demo", seed=1, latency_ms=100, rate_limit_per_second=10) as sb:
        port = free_port()
        env = {
            **os.environ,
            "PARTNERSYNC_DATABASE_URL": url,
            "PARTNERSYNC_API_TOKEN": TOKEN,
            "PARTNERSYNC_HTTP_PORT": str(port),
            "NORTHPASS_BASE_URL": sb.base_url,
            "NORTHPASS_API_KEY": sb.northpass_key,
            "IMPARTNER_BASE_URL": sb.base_url,
            "IMPARTNER_API_KEY": sb.impartner_key,
            "IMPARTNER_TENANT_ID": str(sb.tenant_id),
            "PARTNERSYNC_SHUTDOWN_GRACE_SECONDS": "0",
        }
        script = Path(sys.executable).with_name("partnersync")
        server = subprocess.Popen([str(script), "serve"], env=env, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
                if time.monotonic() > deadline:
                    raise SystemExit("partnersync serve did not come up")
            done = threading.Event()
            chain: list[str] = []
            threading.Thread(target=run_chain, args=(base, done, chain), daemon=True).start()
            busy: list[float] = []
            idle: list[float] = []
            with httpx.Client(base_url=base, headers=AUTH, timeout=10) as client:
                started = time.monotonic()
                tick = started
                while time.monotonic() - started < args.seconds:
                    sent = time.perf_counter()
                    response = client.get("/api/tasks")
                    elapsed_ms = (time.perf_counter() - sent) * 1000
                    response.raise_for_status()
                    running = any(task["status"] == "running" for task in response.json())
                    (busy if running else idle).append(elapsed_ms)
                    tick += 1 / args.rate
                    time.sleep(max(tick - time.monotonic(), 0))
            done.wait(timeout=1800)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)

    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print("runs started over the API (full mode, one after another):")
    for line in chain:
        print("  " + line)
    for label, samples in (("while a run was going", busy), ("with nothing running", idle)):
        if len(samples) < 2:
            print(f"GET /api/tasks {label}: {len(samples)} request(s)")
            continue
        cuts = statistics.quantiles(samples, n=100, method="inclusive")
        print(
            f"GET /api/tasks {label}: {len(samples)} requests, p50 {cuts[49]:.1f} ms, "
            f"p95 {cuts[94]:.1f} ms, p99 {cuts[98]:.1f} ms, max {max(samples):.1f} ms"
        )


if __name__ == "__main__":
    main()
