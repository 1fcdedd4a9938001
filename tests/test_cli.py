"""The README's commands, run as an operator would: the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("partnersync")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_twice_then_list_tasks(tmp_path: Path) -> None:
    env = {"PARTNERSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "COLUMNS": "200"}
    first = run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "10 task(s) added" in first.stdout
    assert "0 task(s) added" in run("migrate", env=env).stdout
    listing = run("tasks", env=env)
    assert listing.returncode == 0
    assert "sync_enrollments" in listing.stdout and "1440 min" in listing.stdout


def test_bad_configuration_fails_naming_the_setting(tmp_path: Path) -> None:
    result = run("migrate", env={"PARTNERSYNC_DATABASE_URL": "oracle://x"})
    assert result.returncode == 2
    assert "PARTNERSYNC_DATABASE_URL" in result.stderr


def test_sandbox_command_serves_both_apis_and_prints_where(tmp_path: Path) -> None:
    import httpx

    process = subprocess.Popen(
        [str(SCRIPT), "sandbox", "--size", "tiny", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in iter(process.stdout.readline, ""):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            if name.isupper() and value:
                printed[name] = value
            if name == "IMPARTNER_TENANT_ID":
                break
        people = httpx.get(
            f"{printed['NORTHPASS_BASE_URL']}/v2/people",
            headers={"X-Api-Key": printed["NORTHPASS_API_KEY"]},
        )
        accounts = httpx.get(
            f"{printed['IMPARTNER_BASE_URL']}/api/objects/v1/Account",
            params={"fields": "Id,Name", "take": 5},
            headers={"Authorization": f"prm-key {printed['IMPARTNER_API_KEY']}"},
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert people.status_code == 200 and people.json()["data"]
    assert accounts.json()["success"] is True


def test_watermarks_listed_and_reset(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from partnersync.db.engine import make_engine
    from partnersync.sync.state import save_watermark

    url = f"sqlite:///{tmp_path / 'w.db'}"
    env = {"PARTNERSYNC_DATABASE_URL": url, "COLUMNS": "200"}
    assert run("migrate", env=env).returncode == 0
    engine = make_engine(url)
    with engine.begin() as connection:
        save_watermark(connection, "northpass.people", datetime(2026, 5, 1, 8, 30, tzinfo=UTC))
        save_watermark(connection, "impartner.users", datetime(2026, 5, 2, tzinfo=UTC))
    listing = run("watermarks", env=env)
    assert "northpass.people" in listing.stdout and "2026-05-01 08:30:00" in listing.stdout
    assert "forgot 1" in run("watermarks", "--reset", "northpass.people", env=env).stdout
    assert run("watermarks", "--reset", "northpass.people", env=env).returncode == 2
    remaining = run("watermarks", env=env).stdout
    assert "northpass.people" not in remaining and "impartner.users" in remaining


def test_vendor_text_is_printed_literally_never_as_markup() -> None:
    """A vendor error holding `[/red]` crashed the summary; `filter[...]` lost its brackets."""
    from datetime import UTC, datetime

    from partnersync import cli
    from partnersync.sync.report import RunReport
    from partnersync.tasks.outcome import RunOutcome
    from partnersync.terminal import summary

    error = "ApiError: GET /v2/people?filter[updated_at][gteq]=2026-12-01 → 422 [/red] [bold]x"
    now = datetime.now(UTC)
    outcome = RunOutcome("sync_users", 1, "failed", error, RunReport(), now, now)
    with cli.console.capture() as captured:
        cli.console.width = 400
        cli.console.print(summary([outcome]))
    assert "filter[updated_at][gteq]=2026-12-01" in captured.get()
    assert "[/red] [bold]x" in captured.get()
