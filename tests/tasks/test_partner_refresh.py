"""`partner_refresh`: one partner's new completion reaches the database and Impartner with only
that partner's requests, and the refresh never runs beside the tasks whose data it shares."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from partnersync.db.schema import lms_courses, lms_enrollments, partners, scheduled_tasks
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.sync.partner_view import summaries
from partnersync.tasks.leases import AlreadyRunning
from partnersync.tasks.partner_refresh import refresh_partner
from partnersync.tasks.registry import PARTNER_REFRESH
from partnersync.tasks.runner import run_task, start_run
from partnersync.web.app import create_app
from tests.sync.conftest import pull_everything, run, settings_for
from tests.web.conftest import AUTH, TOKEN, wait_for_run

SCRIPT = Path(sys.executable).with_name("partnersync")


def a_completion_to_make(engine: Engine, sb: RunningSandbox) -> tuple[int, str, str]:
    """(partner id, person, course): a partner user's unfinished course worth NPCU."""
    with engine.connect() as c:
        worth = set(c.scalars(select(lms_courses.c.id).where(lms_courses.c.npcu_value > 0)))
        pairs = c.execute(partner_user_pairs()).all()
    owners: dict[str, list[int]] = {}
    for partner_id, user_id in pairs:
        owners.setdefault(user_id, []).append(partner_id)
    for user_id, partner_ids in sorted(owners.items()):
        for item in sb.dataset.transcripts.get(user_id, []):
            if (
                item.resource_type == "course"
                and item.resource_id in worth
                and item.progress_status != "completed"
                and len(partner_ids) == 1
            ):
                return partner_ids[0], user_id, item.resource_id
    raise AssertionError("the sandbox has no unfinished NPCU course of a partner user")


def complete(sb: RunningSandbox, person: str, course: str) -> None:
    ds = sb.dataset
    with ds.change() as now:
        for item in ds.transcripts[person]:
            if item.resource_id == course:
                item.progress_status, item.progress = "completed", 100
                item.completed_at = now
                item.updated_at = now


def count_of(engine: Engine, sb: RunningSandbox, partner_id: int) -> int:
    with engine.connect() as c:
        (summary,) = summaries(c, settings_for(sb), utcnow(), partner_id)
    return summary.certification_count


def test_a_new_completion_reaches_impartner_with_only_that_partners_requests(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    partner_id, person, course = a_completion_to_make(engine, sandbox)
    before = count_of(engine, sandbox, partner_id)
    complete(sandbox, person, course)
    with engine.connect() as c:
        impartner_id = c.execute(
            select(partners.c.impartner_id).where(partners.c.id == partner_id)
        ).scalar_one()
        pairs = c.execute(partner_user_pairs()).all()
    own = {user for p, user in pairs if p == partner_id}
    everyone = {user for _, user in pairs}
    sandbox.reset_counters()

    outcome = run_task(
        engine, settings_for(sandbox), PARTNER_REFRESH.name, refresh_partner(partner_id)
    )

    assert outcome.status == "success", outcome.error
    assert count_of(engine, sandbox, partner_id) == before + 1
    account = sandbox.dataset.accounts[impartner_id]
    assert account.Certification_Count__cf == before + 1
    routes = sandbox.stats()["routes"]
    transcripts = routes.get("GET /v2/transcripts/{id}", {}).get("total", 0)
    assert len(own) <= transcripts <= 2 * len(own) < 2 * len(everyone)
    assert routes["PATCH /api/objects/v1/{object}"]["total"] == 1
    assert "GET /v2/people" not in routes and "GET /v2/courses" not in routes
    assert sum(r["total"] for r in routes.values()) < len(everyone)  # not a sync's worth
    with engine.connect() as c:
        stored = c.scalar(
            select(lms_enrollments.c.status).where(
                lms_enrollments.c.user_id == person, lms_enrollments.c.course_id == course
            )
        )
    assert stored == "completed"


def hold(engine: Engine, task: str) -> None:
    """A live lease on `task`, as another process running it would hold."""
    with engine.begin() as c:
        c.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type == task)
            .values(
                status="running",
                lease_owner="elsewhere",
                lease_expires_at=utcnow() + timedelta(minutes=5),
            )
        )


def test_a_refresh_waits_for_enrollments_and_push_and_they_for_it(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    settings = settings_for(sandbox)
    for blocker in ("sync_enrollments", "sync_to_impartner"):
        hold(engine, blocker)
        with pytest.raises(AlreadyRunning, match=blocker):
            start_run(engine, settings, PARTNER_REFRESH.name)
        with engine.begin() as c:
            c.execute(
                update(scheduled_tasks)
                .where(scheduled_tasks.c.task_type == blocker)
                .values(status="idle", lease_owner=None, lease_expires_at=None)
            )
    started = start_run(engine, settings, PARTNER_REFRESH.name)  # free now; seeds its row
    assert started.lease.task == PARTNER_REFRESH.name
    with engine.connect() as c:  # seeded disabled: the scheduler never finds it due
        enabled = c.scalar(
            select(scheduled_tasks.c.enabled).where(
                scheduled_tasks.c.task_type == PARTNER_REFRESH.name
            )
        )
    assert enabled is False or enabled == 0
    for blocked in ("sync_enrollments", "sync_to_impartner"):
        with pytest.raises(AlreadyRunning, match=PARTNER_REFRESH.name):
            start_run(engine, settings, blocked)
    start_run(engine, settings, "sync_users")  # unrelated tasks are not held up


def test_the_cli_and_the_api_refresh_one_partner(engine: Engine, sandbox: RunningSandbox) -> None:
    pull_everything(engine, sandbox)
    settings = settings_for(sandbox, PARTNERSYNC_API_TOKEN=TOKEN)
    with engine.connect() as c:
        partner_id = c.scalar(select(partners.c.id).where(partners.c.is_active).limit(1))
    with TestClient(create_app(engine, settings)) as client:
        client.headers.update(AUTH)
        answer = client.post(f"/api/partners/{partner_id}/refresh")
        assert answer.status_code == 202, answer.text
        assert wait_for_run(client, answer.json()["run_id"])["status"] == "success"
        assert client.post("/api/partners/999999/refresh").status_code == 404

    url = engine.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    for args, words in (
        (["sync", "partner", "999999"], "no active partner with id 999999"),
        (["sync", "partner"], "needs the partner's id"),
        (["sync", "sync_users", "7"], "only `sync partner ID` takes an id"),
    ):
        result = subprocess.run(
            [str(SCRIPT), *args],
            env={
                **env,
                "PARTNERSYNC_DATABASE_URL": url,
                **{
                    k: str(v)
                    for k, v in {
                        "NORTHPASS_API_KEY": sandbox.northpass_key,
                        "IMPARTNER_API_KEY": sandbox.impartner_key,
                    }.items()
                },
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3
