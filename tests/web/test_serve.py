"""The API inside `partnersync serve`, and a real task run over the API against the sandbox."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks.registry import TASKS
from partnersync.web.app import create_app
from tests.sync.conftest import sandbox, settings_for

from .conftest import AUTH, TOKEN, wait_for_run

__all__ = ["sandbox"]

SCRIPT = Path(sys.executable).with_name("partnersync")


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_API_KEY") and key != "PARTNERSYNC_API_TOKEN"
    }
    return {**env, "PARTNERSYNC_DATABASE_URL": url, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(base: str, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Until `serve` at `base` answers its health check (and has died if it never does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{base}/api/health", timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "serve did not come up"
            time.sleep(0.1)


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(make_engine(url), TASKS)
    result = subprocess.run(
        [str(SCRIPT), "serve"],
        env=environment(url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PARTNERSYNC_API_TOKEN" in result.stderr


def test_serve_answers_over_http_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(make_engine(url), TASKS)
    port = free_port()
    env = environment(url, PARTNERSYNC_API_TOKEN=TOKEN, PARTNERSYNC_SCHEDULER_TICK_SECONDS="0.2")
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=2)
                if health.json()["scheduler"] == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "serve did not come up"
            time.sleep(0.1)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"{base}/api/tasks").status_code == 401
        tasks = httpx.get(f"{base}/api/tasks", headers=AUTH).json()
        assert len(tasks) == 10
        assert "partnersync_runs_total" in httpx.get(f"{base}/metrics", headers=AUTH).text
        assert "<title>partnersync</title>" in httpx.get(base).text
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}/" in stdout
    assert TOKEN not in stdout + stderr


def test_a_real_task_runs_over_the_api_against_the_sandbox(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    settings = settings_for(sandbox, PARTNERSYNC_API_TOKEN=TOKEN)
    with TestClient(create_app(engine, settings)) as client:
        client.headers.update(AUTH)
        run_id = client.post("/api/tasks/sync_courses/run", params={"mode": "full"}).json()[
            "run_id"
        ]
        run = wait_for_run(client, run_id, timeout=60)
        assert run["status"] == "success", run["error_message"]
        assert run["records_processed"] == len(sandbox.dataset.courses)
        assert run["api"]["northpass"]["requests"] > 0
        metrics = client.get("/metrics").text
    requests = run["api"]["northpass"]["requests"]
    assert f'partnersync_api_requests_total{{api="northpass"}} {float(requests)}' in metrics
