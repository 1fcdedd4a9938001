"""An operator's first mistakes with the database: one line naming the problem and the fix,
exit 2, no traceback, no password, and nothing created or written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import MARIADB_URL

SCRIPT = Path(sys.executable).with_name("partnersync")
PASSWORD = "wrong-Pw-4c1d"


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**env, "PARTNERSYNC_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture
def empty_mariadb() -> Iterator[str]:
    server = create_engine(MARIADB_URL)
    name = f"partnersync_empty_{os.getpid()}"
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield str(server.url.set(database=name).render_as_string(hide_password=False))
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    server.dispose()


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "partnersync.db"
    for command in (["tasks"], ["sync", "all"], ["history"], ["watermarks"], ["link", "list"]):
        assert_one_line(run(f"sqlite:///{missing}", *command), "partnersync migrate")
    assert not missing.exists()


def test_an_unmigrated_database_says_run_migrate_and_writes_nothing(empty_mariadb: str) -> None:
    for command in (["sync", "all"], ["tasks"], ["suggestions"]):
        assert_one_line(run(empty_mariadb, *command), "has no schema yet", "partnersync migrate")
    engine = create_engine(empty_mariadb)
    with engine.connect() as connection:
        tables = connection.execute(text("SHOW TABLES")).all()
    engine.dispose()
    assert tables == []


def test_a_schema_newer_than_the_code_is_refused(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        current = connection.scalar(text("SELECT version_num FROM alembic_version"))
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        assert_one_line(run(url, "sync", "sync_users"), "9999", "newer than this version")
    finally:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql+pymysql://root@127.0.0.1:1/partnersync", ("2003", "PARTNERSYNC_DATABASE_URL")),
        (f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:3306/test", ("1045", "***")),
        ("mysql+pymysql://root@127.0.0.1:3306/no_such_database_x", ("1049",)),
        ("mysql://root@127.0.0.1:3306/test", ("driver", "mysql+pymysql://")),
    ],
)
def test_unreachable_databases_get_one_line(url: str, words: tuple[str, ...]) -> None:
    result = run(url, "tasks")
    assert_one_line(result, *words)
    assert PASSWORD not in result.stdout + result.stderr


def test_missing_api_keys_are_found_before_anything_runs(engine: Engine) -> None:
    from sqlalchemy import func, select

    from partnersync.db.schema import sync_logs

    url = engine.url.render_as_string(hide_password=False)
    result = run(url, "sync", "all")
    assert_one_line(result, "NORTHPASS_API_KEY", "IMPARTNER_API_KEY", "nothing was run")
    assert_one_line(run(url, "sync", "sync_to_impartner"), "IMPARTNER_API_KEY")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(sync_logs)) == 0
    assert run(url, "sync", "group_analysis").returncode == 0  # needs no vendor


def test_a_mistyped_setting_is_named_with_its_closest_known_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    result = subprocess.run(
        [str(SCRIPT), "tasks"],
        env={**env, "PARTNERSYNC_DATABSE_URL": "mysql+pymysql://x:secret@db/partnersync"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "unknown setting PARTNERSYNC_DATABSE_URL" in result.stderr
    assert "did you mean PARTNERSYNC_DATABASE_URL?" in result.stderr
    assert "secret" not in result.stderr
    assert result.returncode == 2 and not (tmp_path / "partnersync.db").exists()


def test_a_taken_port_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    import socket

    db = tmp_path / "p.db"
    url = f"sqlite:///{db}"
    assert run(url, "migrate").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = {"PARTNERSYNC_API_TOKEN": "port-test-token-0123456789"}
        serve = subprocess.run(
            [str(SCRIPT), "serve", "--port", port],
            env={**os.environ, "PARTNERSYNC_DATABASE_URL": url, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert_one_line(serve, port, "--port")
        assert "dashboard and API on" not in serve.stdout
        assert_one_line(run(url, "demo", "--port", port, "--database", str(tmp_path / "d.db")))
        assert not (tmp_path / "d.db").exists()  # refused before any sync
        sandbox = run(url, "sandbox", "--size", "tiny", "--port", port)
        assert_one_line(sandbox, "--port")
        assert "NORTHPASS_BASE_URL" not in sandbox.stdout
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM sync_logs")) == 0
    engine.dispose()


def test_demo_never_overwrites_a_file_that_is_not_an_earlier_demo(tmp_path: Path) -> None:
    precious = tmp_path / "partnersync.db"
    precious.write_text("the production default, not a demo\n")
    refused = run("sqlite:///unused.db", "demo", "--no-serve", "--database", str(precious))
    assert_one_line(refused, "not a partnersync demo database", "--force")
    assert precious.read_text() == "the production default, not a demo\n"


def test_a_write_the_database_refuses_is_one_line_not_a_traceback(mariadb_engine: Engine) -> None:
    from tests.conftest import empty_database

    empty_database(mariadb_engine)
    database = mariadb_engine.url.database
    user, secret = "partnersync_readonly", "Ro-Pw-7781-secret"
    with mariadb_engine.begin() as connection:
        for host in ("localhost", "127.0.0.1", "%"):
            connection.execute(text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
            connection.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{secret}'"))
            connection.execute(text(f"GRANT SELECT ON {database}.* TO '{user}'@'{host}'"))
    url = f"mysql+pymysql://{user}:{secret}@127.0.0.1:3306/{database}"
    try:
        for command in (["tasks", "enable", "cleanup"], ["watermarks", "--reset", "all"]):
            result = run(url, *command)
            assert_one_line(result, "1142")
            assert secret not in result.stdout + result.stderr and "[SQL" not in result.stderr
    finally:
        with mariadb_engine.begin() as connection:
            for host in ("localhost", "127.0.0.1", "%"):
                connection.execute(text(f"DROP USER IF EXISTS '{user}'@'{host}'"))


def test_a_password_in_the_query_string_is_masked_too() -> None:
    from partnersync.config import Settings

    url = "mysql+pymysql://me@127.0.0.1:1/x?password=Own%23Pa55%3Aw%2Frd"
    settings = Settings(PARTNERSYNC_DATABASE_URL=url)
    assert "Own" not in settings.database_url_masked and "***" in settings.database_url_masked
    assert {"Own#Pa55:w/rd", "Own%23Pa55%3Aw%2Frd"} <= set(settings.secrets())
    result = run(url, "tasks")
    assert_one_line(result, "2003")
    assert "Pa55" not in result.stderr


def test_a_token_with_surrounding_white_space_still_signs_in() -> None:
    from partnersync.config import Settings

    token = Settings(PARTNERSYNC_API_TOKEN="  abcdefghijklmnop1234 ").api_token
    assert token is not None and token.get_secret_value() == "abcdefghijklmnop1234"


def test_terminal_escapes_in_vendor_text_are_shown_escaped() -> None:
    from partnersync.sync.report import printable

    assert printable("Acme\x1b]0;PWNED\x07\x1b[31m") == "Acme\\x1b]0;PWNED\\x07\\x1b[31m"


def test_verbose_names_the_database_with_its_password_masked(tmp_path: Path) -> None:
    url = f"mysql+pymysql://someone:{PASSWORD}@127.0.0.1:3306/partnersync_nowhere"
    result = run(url, "--verbose", "tasks")
    assert (
        "database mysql+pymysql://someone:***@127.0.0.1:3306/partnersync_nowhere" in result.stderr
    )
    assert PASSWORD not in result.stdout + result.stderr


def test_ctrl_c_says_what_happened_and_the_run_is_recorded_interrupted(tmp_path: Path) -> None:
    import signal
    import time

    from partnersync.sandbox.server import environment_lines, running_sandbox

    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert run(url, "migrate").returncode == 0
    with running_sandbox("tiny", latency_ms=200) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
        env.update(line.split("=", 1) for line in environment_lines(sandbox))  # type: ignore[misc]
        env.update(PARTNERSYNC_DATABASE_URL=url, NORTHPASS_PAGE_SIZE="5")
        process = subprocess.Popen(
            [str(SCRIPT), "sync", "sync_users", "--full"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while sandbox.stats().get("total", 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    engine = create_engine(url)
    with engine.connect() as connection:
        status, error = connection.execute(
            text("SELECT status, error_message FROM sync_logs")
        ).one()
    engine.dispose()
    assert status == "failed" and "interrupt" in error.lower()
