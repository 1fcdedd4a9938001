"""The README's first command: `partnersync demo`, run as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

SCRIPT = Path(sys.executable).with_name("partnersync")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_syncs_everything_then_serves_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "demo.db"
    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--port", str(port), "--database", str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        cwd=tmp_path,
    )
    assert process.stdout is not None
    output = []
    try:
        deadline = time.monotonic() + 120
        for line in iter(process.stdout.readline, ""):
            output.append(line)
            if "API token" in line or time.monotonic() > deadline:
                break
        printed = "".join(output)
        token = printed.rsplit(":", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, printed
                time.sleep(0.2)
        page = httpx.get(f"http://127.0.0.1:{port}/")
        tasks = httpx.get(
            f"http://127.0.0.1:{port}/api/tasks", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert "sync summary" in printed and "what is stored" in printed
    assert health.status_code == 200 and page.status_code == 200
    assert tasks.status_code == 200
    with sqlite3.connect(database) as connection:
        counts = {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("partners", "contacts", "lms_users", "lms_enrollments")
        }
        statuses = connection.execute("SELECT sync_type, status FROM sync_logs").fetchall()
    assert all(count > 0 for count in counts.values()), counts
    assert len(statuses) >= 9 and {status for _, status in statuses} == {"success"}, statuses


def test_demo_without_serving_exits_after_the_sync(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "demo", "--no-serve", "--database", str(tmp_path / "d.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "what is stored" in result.stdout
