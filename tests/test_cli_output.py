"""Output for scripts and people: `--json` everywhere a table is, one run whole, schedule
changes from the command line, `--version` and `-h`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from partnersync.db.engine import make_engine
from tests.tasks.conftest import add_partner, add_people

SCRIPT = Path(sys.executable).with_name("partnersync")


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**env, "PARTNERSYNC_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def parsed(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_outputs_and_one_run_whole(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(db, "migrate").returncode == 0
    assert cli(db, "sync", "group_analysis").returncode == 0  # needs no vendor

    tasks = parsed(cli(db, "tasks", "--json"))
    assert {t["name"] for t in tasks} >= {"sync_users", "cleanup"}
    assert {"enabled", "interval_minutes", "status", "last_status", "next_run_at"} <= set(tasks[0])

    runs = parsed(cli(db, "history", "--json"))
    assert [run["task"] for run in runs] == ["group_analysis"]
    whole = parsed(cli(db, "history", "--id", str(runs[0]["id"]), "--json"))
    assert whole["id"] == runs[0]["id"] and "streams" in whole
    shown = cli(db, "history", "--id", str(runs[0]["id"]))
    assert shown.returncode == 0 and "status: success" in shown.stdout

    assert parsed(cli(db, "watermarks", "--json")) == []
    assert parsed(cli(db, "link", "list", "--json")) == []
    assert parsed(cli(db, "suggestions", "--json")) == []
    assert cli(db, "history", "--id", "999").returncode == 2


def test_tasks_enable_disable_and_interval(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(db, "migrate").returncode == 0
    assert cli(db, "tasks", "disable", "cleanup").returncode == 0
    assert cli(db, "tasks", "interval", "sync_users", "2h").returncode == 0
    states = {t["name"]: t for t in parsed(cli(db, "tasks", "--json"))}
    assert states["cleanup"]["enabled"] is False
    assert states["sync_users"]["interval_minutes"] == 120
    assert cli(db, "tasks", "enable", "cleanup").returncode == 0
    assert {t["name"]: t for t in parsed(cli(db, "tasks", "--json"))}["cleanup"]["enabled"]
    assert cli(db, "tasks", "interval", "sync_users", "soon").returncode == 2
    assert cli(db, "tasks", "disable", "nope").returncode == 2


def test_ids_are_never_cut_in_tables(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(db, "migrate").returncode == 0
    listing = cli(db, "tasks")
    assert listing.returncode == 0 and "…" not in listing.stdout  # folded, never ellipsised


def test_version_and_short_help(tmp_path: Path) -> None:
    version = cli(tmp_path / "p.db", "--version")
    assert version.returncode == 0 and version.stdout.startswith("partnersync ")
    assert "Usage" in cli(tmp_path / "p.db", "-h").stdout


def test_piped_tables_are_plain_text(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(db, "migrate").returncode == 0
    piped = cli(db, "tasks").stdout
    assert "sync_users" in piped and not set("┃━│┏") & set(piped)


def test_suggestions_show_their_evidence(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(db, "migrate").returncode == 0
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        add_partner(connection, 1, "Solo", ["only@solo.io"], group="g-solo")
        add_people(connection, "second@solo.io")
    engine.dispose()
    assert cli(db, "sync", "group_analysis").returncode == 0

    [suggestion] = parsed(cli(db, "suggestions", "--json"))
    assert suggestion["evidence"] == "1 of 1 active contact of Solo uses solo.io"
    assert (suggestion["user_id"], suggestion["reason"]) == ("u-second@solo.io", "domain")
    table = cli(db, "suggestions").stdout  # folded to 80 columns
    assert "evidence" in table.splitlines()[0] and "uses" in table
