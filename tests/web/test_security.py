"""Nothing heavy before authentication, small bodies only, hardened answers, slowed guessing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.tasks.registry import TASKS
from partnersync.web.app import create_app
from partnersync.web.gate import MAX_FAILURES

from .conftest import AUTH, TOKEN, web_settings
from .test_serve import environment, free_port, wait_until_serving

SCRIPT = Path(sys.executable).with_name("partnersync")
HEADERS = {
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
}


@pytest.fixture
def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/app.css", "/api/health"])
def test_every_answer_carries_the_hardening_headers(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 200
    assert set(response.headers) >= HEADERS
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_405_answers_name_the_allowed_methods(client: TestClient) -> None:
    api = client.put("/api/tasks")
    assert api.status_code == 405 and api.headers["allow"] == "GET"
    static = client.post("/static/app.css")
    assert static.status_code == 405 and static.headers["allow"] == "GET, HEAD"


def test_authentication_is_decided_before_the_body(anonymous: TestClient) -> None:
    malformed = anonymous.patch(
        "/api/tasks/cleanup", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 401
    assert malformed.headers["www-authenticate"] == "Bearer"


def test_an_oversized_body_is_refused_without_being_echoed(engine: Engine) -> None:
    app = create_app(engine, web_settings(PARTNERSYNC_HTTP_MAX_BODY_BYTES=2048))
    with TestClient(app) as client:
        client.headers.update(AUTH)
        marker = b'{"enabled": true, "padding": "' + b"SECRET-MARKER" * 400 + b'"}'
        declared = client.patch("/api/tasks/cleanup", content=marker)
        assert declared.status_code == 413
        assert b"SECRET-MARKER" not in declared.content

        def streamed() -> object:
            for _ in range(10):
                yield b"x" * 1000

        chunked = client.patch("/api/tasks/cleanup", content=streamed())
        assert chunked.status_code == 413
        small = client.patch("/api/tasks/cleanup", json={"enabled": True})
        assert small.status_code == 200


def test_repeated_wrong_tokens_are_slowed_down_but_never_lock_the_right_one_out(
    anonymous: TestClient,
) -> None:
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    answers = [anonymous.get("/api/tasks", headers=wrong).status_code for _ in range(MAX_FAILURES)]
    assert answers == [401] * MAX_FAILURES
    held = anonymous.get("/api/tasks", headers=wrong)
    assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
    forwarded = {**wrong, "X-Forwarded-For": "10.9.8.7"}  # a header cannot pick the client
    assert anonymous.get("/api/tasks", headers=forwarded).status_code == 429
    assert anonymous.get("/api/tasks", headers=AUTH).status_code == 200  # the operator gets in
    assert anonymous.get("/api/tasks", headers=wrong).status_code == 401  # and that reset it


def test_requests_without_a_token_are_refused_but_not_counted_as_guesses(
    anonymous: TestClient,
) -> None:
    for _ in range(MAX_FAILURES + 5):
        assert anonymous.get("/api/tasks").status_code == 401
    assert anonymous.get("/api/health/").status_code in (200, 307)  # health stays public


def test_failed_sign_ins_appear_in_metrics(client: TestClient) -> None:
    for _ in range(3):
        client.get("/api/tasks", headers={"Authorization": "Bearer wrong-token-0000000"})
    text = client.get("/metrics").text
    assert "partnersync_auth_failures_total 3.0" in text


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_400_mb_body_without_a_token_costs_the_server_nothing(tmp_path: Path) -> None:
    """A real `serve`: the answer comes before the body, and memory does not grow."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(make_engine(url), TASKS)
    port = free_port()
    env = environment(url, PARTNERSYNC_API_TOKEN=TOKEN)
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        before = rss_kib(process.pid)
        answers = []
        for authorization in (b"", f"Authorization: Bearer {TOKEN}\r\n".encode()):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    b"PATCH /api/tasks/cleanup HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\n"
                    + authorization
                    + b"Content-Length: 400000000\r\n\r\n"
                )
                try:
                    for _ in range(64):  # 4 MiB of it, then see what came back
                        sock.sendall(b"x" * 65536)
                except OSError:
                    pass  # the server answered and closed: exactly what should happen
                answers.append(sock.recv(200).split(b"\r\n", 1)[0])
        growth_mib = (rss_kib(process.pid) - before) / 1024
    finally:
        process.terminate()
        process.wait(30)
    assert answers == [b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 413 Request Entity Too Large"]
    assert growth_mib < 20, f"server grew by {growth_mib:.1f} MiB"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment_ = {
        k: v for k, v in os.environ.items() if not k.startswith(("PARTNERSYNC_", "NORTHPASS_"))
    }
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**environment_, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARTNERSYNC_API_TOKEN", "x"),
        ("NORTHPASS_RATE_PER_SECOND", "inf"),
        ("NORTHPASS_RATE_PER_SECOND", "nan"),
        ("IMPARTNER_RATE_PER_SECOND", "100000"),
        ("PARTNERSYNC_HTTP_TIMEOUT_SECONDS", "inf"),
    ],
)
def test_weak_or_impossible_settings_are_refused_at_start(
    tmp_path: Path, name: str, value: str
) -> None:
    result = run_cli(
        "tasks", PARTNERSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", **{name: value}
    )
    assert result.returncode == 2
    assert name in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert "Traceback" not in result.stderr


def test_token_makes_a_strong_token() -> None:
    result = run_cli("token")
    assert result.returncode == 0
    token = result.stdout.strip()
    assert len(token) >= 32 and token != run_cli("token").stdout.strip()
