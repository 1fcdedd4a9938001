"""The database password never shows: not through a privilege error, not through a killed
connection, not in a log line at DEBUG, an error row or an API answer (real MariaDB user)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, text

from partnersync.db.schema import sync_logs
from partnersync.sandbox.server import RunningSandbox
from tests.conftest import empty_database
from tests.sync.conftest import sandbox
from tests.web.test_serve import free_port, wait_until_serving

__all__ = ["sandbox"]

SCRIPT = Path(sys.executable).with_name("partnersync")
USER = "partnersync_limited"
PASSWORD = "Pw-9f3c-SECRET-77"
TOKEN = "secrets-test-token-0123456789"
HOSTS = ("localhost", "127.0.0.1", "%")


@pytest.fixture
def limited_url(mariadb_engine: Engine) -> Iterator[str]:
    """A user who may read everything and keep run history, but not write synced data."""
    empty_database(mariadb_engine)
    database = mariadb_engine.url.database
    with mariadb_engine.begin() as connection:
        for host in HOSTS:
            connection.execute(text(f"DROP USER IF EXISTS '{USER}'@'{host}'"))
            connection.execute(text(f"CREATE USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'"))
            connection.execute(text(f"GRANT SELECT ON {database}.* TO '{USER}'@'{host}'"))
            for table in ("sync_logs", "scheduled_tasks"):
                connection.execute(
                    text(f"GRANT INSERT, UPDATE ON {database}.{table} TO '{USER}'@'{host}'")
                )
    yield f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:3306/{database}"
    with mariadb_engine.begin() as connection:
        for host in HOSTS:
            connection.execute(text(f"DROP USER IF EXISTS '{USER}'@'{host}'"))


def environment(url: str, sandbox: RunningSandbox) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    return {
        **clean,
        "PARTNERSYNC_DATABASE_URL": url,
        "PARTNERSYNC_LOG_LEVEL": "DEBUG",
        "PARTNERSYNC_API_TOKEN": TOKEN,
        "NORTHPASS_BASE_URL": sandbox.base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "PARTNERSYNC_SCHEDULER_TICK_SECONDS": "0.2",
    }


def test_a_privilege_error_stores_and_prints_no_password_and_no_sql(
    mariadb_engine: Engine, limited_url: str, sandbox: RunningSandbox
) -> None:
    result = subprocess.run(
        [str(SCRIPT), "sync", "sync_users", "--full"],
        env=environment(limited_url, sandbox),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert PASSWORD not in output
    with mariadb_engine.connect() as connection:
        (error,) = connection.execute(select(sync_logs.c.error_message)).scalars().all()
    assert "1142" in error and "lms_users" in error
    assert "\n" not in error and "INSERT" not in error.upper().split("COMMAND")[-1]
    assert "[SQL" not in error and "parameters" not in error and PASSWORD not in error


def test_serve_with_killed_connections_shows_no_password(
    mariadb_engine: Engine, limited_url: str, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(SCRIPT), "serve", "--port", str(port)],
            env=environment(limited_url, sandbox),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers: list[str] = []
    try:
        wait_until_serving(base, process)
        for _ in range(3):  # the scheduler's runs fail on privileges; connections are killed
            time.sleep(1.0)
            with mariadb_engine.begin() as connection:
                ids = connection.execute(
                    text("SELECT id FROM information_schema.processlist WHERE user = :user"),
                    {"user": USER},
                ).scalars()
                for connection_id in list(ids):
                    connection.execute(text(f"KILL CONNECTION {int(connection_id)}"))
            for path in ("/api/health", "/api/tasks", "/api/sync-logs", "/metrics"):
                answers.append(httpx.get(base + path, headers=auth, timeout=10).text)
    finally:
        process.terminate()
        process.wait(60)
    output = log.read_text()
    assert "Traceback" in output or "error" in output.lower()  # something did go wrong
    assert PASSWORD not in output
    assert not [answer for answer in answers if PASSWORD in answer]
    with mariadb_engine.connect() as connection:
        errors = connection.execute(select(sync_logs.c.error_message)).scalars().all()
    assert errors and not [e for e in errors if e and (PASSWORD in e or "[SQL" in e)]
