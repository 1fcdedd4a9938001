"""`partnersync doctor` against the sandbox: every check passes on a healthy one, and each knob
that breaks an assumption the sync relies on fails (or warns on) exactly the matching line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.doctor import diagnose
from partnersync.doctor.local import granted
from partnersync.doctor.report import Checklist
from partnersync.sandbox.knobs import Knobs
from partnersync.sandbox.server import RunningSandbox, environment_lines, running_sandbox
from partnersync.tasks.registry import ON_DEMAND, TASKS
from tests.conftest import MARIADB_URL

SCRIPT = Path(sys.executable).with_name("partnersync")
PREFIXES = ("PARTNERSYNC_", "NORTHPASS_", "IMPARTNER_")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox("tiny", rate_limit_per_second=None) as sb:
        yield sb


@pytest.fixture
def healthy(sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    sandbox.set_knobs(**Knobs(rate_limit_per_second=None).as_json())
    yield sandbox
    sandbox.set_knobs(**Knobs(rate_limit_per_second=None).as_json())


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('doctor') / 'partnersync.db'}"
    migrate(make_engine(url), TASKS)
    return url


def environment(sandbox: RunningSandbox, database: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(line.split("=", 1) for line in environment_lines(sandbox))  # type: ignore[misc]
    env.update(
        PARTNERSYNC_DATABASE_URL=database,
        PARTNERSYNC_API_TOKEN="a-token-of-enough-length",
        NORTHPASS_PAGE_SIZE="10",  # the tiny school has 48 people: paging is put to the test
        NORTHPASS_RATE_PER_SECOND="100",
        IMPARTNER_RATE_PER_SECOND="100",
    )
    env.update(extra)
    return env


def doctor(
    monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, database: str, **extra: str
) -> Checklist:
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    for name, value in environment(sandbox, database, **extra).items():
        monkeypatch.setenv(name, value)
    return diagnose(os.environ)


def line(checklist: Checklist, name: str) -> Any:
    return next(check for check in checklist.checks if check.name == name)


def test_a_healthy_sandbox_passes_every_check_within_the_request_budget(
    healthy: RunningSandbox, database: str
) -> None:
    env = environment(healthy, database)
    result = subprocess.run(
        [str(SCRIPT), "doctor", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["failed"] == []
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["northpass.paging"] == statuses["northpass.limit"] == "ok"
    assert statuses["impartner.time_literals"] == "ok"
    assert all(status in ("ok", "warn") for status in statuses.values()), statuses
    assert 0 < sum(report["requests"].values()) <= 30
    for secret in (healthy.northpass_key, healthy.impartner_key, "a-token-of-enough-length"):
        assert secret not in result.stdout + result.stderr


def test_the_checklist_names_the_fix_and_exits_1_when_a_check_fails(
    healthy: RunningSandbox, database: str
) -> None:
    healthy.set_knobs(northpass_ignored_filters=["updated_at"])
    env = environment(healthy, database)
    result = subprocess.run(
        [str(SCRIPT), "doctor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    failing = [row for row in result.stdout.splitlines() if row.startswith("✗")]
    assert len(failing) == 1 and "northpass.updated_filter" in failing[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("knobs", "settings", "name", "says"),
    [
        ({"northpass_max_page_size": 4}, {}, "northpass.limit", "NORTHPASS_PAGE_SIZE=4"),
        ({"northpass_next_link_params": "drop_filters"}, {}, "northpass.paging", "filter"),
        ({"northpass_next_link_params": "drop_limit"}, {}, "northpass.paging", "limit"),
        ({"northpass_ignored_filters": ["updated_at"]}, {}, "northpass.updated_filter", "ignored"),
        ({"northpass_people_omit": ["last_active_at"]}, {}, "northpass.people_fields", "--full"),
        ({"impartner_max_take": 3}, {}, "impartner.take_skip", "IMPARTNER_PAGE_SIZE=3"),
        (
            {"impartner_literal_offsets": "ignore"},
            {"IMPARTNER_FILTER_MARGIN_HOURS": "2"},
            "impartner.time_literals",
            "IMPARTNER_FILTER_MARGIN_HOURS=",
        ),
    ],
)
def test_each_broken_assumption_fails_its_own_line(
    monkeypatch: pytest.MonkeyPatch,
    healthy: RunningSandbox,
    database: str,
    knobs: dict[str, Any],
    settings: dict[str, str],
    name: str,
    says: str,
) -> None:
    healthy.set_knobs(**knobs)
    checklist = doctor(monkeypatch, healthy, database, **settings)
    assert checklist.as_json()["failed"] == [name], checklist.checks
    assert says in f"{line(checklist, name).detail} {line(checklist, name).fix}"


def test_a_zone_dropping_api_needs_a_margin_covering_the_tenant_offset(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, database: str
) -> None:
    healthy.set_knobs(impartner_literal_offsets="ignore", impartner_timezone="America/Denver")
    check = line(doctor(monkeypatch, healthy, database), "impartner.time_literals")
    assert check.status == "ok" and "not read as UTC" in check.detail  # the default 14 h covers it
    healthy.set_knobs(impartner_timezone="Asia/Tokyo")  # east of UTC: a late literal only re-reads
    check = line(
        doctor(monkeypatch, healthy, database, IMPARTNER_FILTER_MARGIN_HOURS="0"),
        "impartner.time_literals",
    )
    assert check.status == "ok", check


def test_the_tenant_header_required_optional_or_ignored(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, database: str
) -> None:
    assert line(doctor(monkeypatch, healthy, database), "impartner.tenant").status == "warn"
    healthy.set_knobs(impartner_require_tenant=True)
    assert line(doctor(monkeypatch, healthy, database), "impartner.tenant").status == "ok"


def test_a_refused_key_fails_once_and_skips_the_rest_of_that_vendor(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, database: str
) -> None:
    checklist = doctor(monkeypatch, healthy, database, NORTHPASS_API_KEY="not-the-right-key")
    assert line(checklist, "northpass.key").status == "fail"
    assert "NORTHPASS_API_KEY" in line(checklist, "northpass.key").fix
    assert {c.status for c in checklist.checks if c.name.startswith("northpass.")} == {
        "fail",
        "skip",
    }
    assert line(checklist, "impartner.key").status == "ok"
    assert checklist.requests["northpass"] == 1


def test_a_closed_port_is_a_failed_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, database: str
) -> None:
    checklist = doctor(monkeypatch, healthy, database, IMPARTNER_BASE_URL="http://127.0.0.1:9")
    check = line(checklist, "impartner.key")
    assert check.status == "fail" and "127.0.0.1:9" in check.detail
    assert line(checklist, "impartner.count").status == "skip"


def test_settings_and_database_problems_are_lines_of_their_own(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, tmp_path: Path
) -> None:
    unmigrated = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(unmigrated).connect().close()
    checklist = doctor(
        monkeypatch,
        healthy,
        unmigrated,
        PARTNERSYNC_DATABSE_URL="sqlite:///typo.db",
        IMPARTNER_API_KEY="",
    )
    unknown = line(checklist, "config.unknown_variables")
    assert unknown.status == "warn" and "PARTNERSYNC_DATABASE_URL" in unknown.detail
    assert line(checklist, "config.impartner_api_key").status == "fail"
    assert line(checklist, "impartner.key").status == "skip"
    assert line(checklist, "database.reachable").status == "ok"
    assert "partnersync migrate" in line(checklist, "database.schema").detail

    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert line(doctor(monkeypatch, healthy, missing), "database.reachable").status == "fail"
    assert not (tmp_path / "missing.db").exists()

    checklist = doctor(monkeypatch, healthy, missing, NORTHPASS_PAGE_SIZE="0")
    assert line(checklist, "config.settings").status == "fail"
    assert {c.status for c in checklist.checks[1:]} == {"skip"}


def test_a_read_only_mariadb_account_fails_the_privileges_line(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox
) -> None:
    admin = create_engine(MARIADB_URL)
    user = f"doctor_ro_{os.getpid()}"
    database = admin.url.database
    with admin.begin() as connection:
        connection.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        connection.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'ro-Pw-91xz'"))
        connection.execute(text(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'"))
    try:
        url = admin.url.set(username=user, password="ro-Pw-91xz")
        checklist = doctor(monkeypatch, healthy, url.render_as_string(hide_password=False))
        check = line(checklist, "database.privileges")
        assert check.status == "fail" and "INSERT" in check.detail, check
        assert "ro-Pw-91xz" not in json.dumps(checklist.as_json())
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()


def test_grants_are_read_for_this_database_or_globally() -> None:
    grants = [
        "GRANT USAGE ON *.* TO `app`@`%`",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `partnersync`.* TO `app`@`%`",
        "GRANT ALL PRIVILEGES ON `other`.* TO `app`@`%`",
    ]
    assert granted(grants, "partnersync") == {"USAGE", "SELECT", "INSERT", "UPDATE", "DELETE"}
    assert "CREATE" in granted(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"], "x")


def test_every_sync_command_a_message_suggests_names_a_real_task() -> None:
    """A fix that names a task the CLI does not know sends the operator to "unknown task"."""
    source = Path(__file__).parents[1] / "src" / "partnersync"
    suggested = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r"partnersync sync ([a-z_]+)", path.read_text(encoding="utf-8"))
    }
    assert suggested, "no message suggests a sync command"
    assert suggested - {task.name for task in TASKS} - {"all", "partner"} == set()


def test_a_missing_secret_names_the_tasks_that_need_it(
    monkeypatch: pytest.MonkeyPatch, healthy: RunningSandbox, database: str
) -> None:
    checklist = doctor(monkeypatch, healthy, database, IMPARTNER_API_KEY="")
    detail = line(checklist, "config.impartner_api_key").detail
    named = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", detail))
    assert named and named <= {task.name for task in (*TASKS, *ON_DEMAND.values())}, detail
