"""`cleanup`: old finished history and analysis results go; running rows, state and data stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, insert, select

from partnersync.config import Settings
from partnersync.db.schema import (
    group_analysis_runs,
    group_analysis_suggestions,
    lms_group_members,
    sync_logs,
    sync_state,
)
from partnersync.db.types import utcnow
from partnersync.tasks.cleanup import cleanup
from partnersync.tasks.runner import run_task
from tests.conftest import inserted_id


def test_cleanup_prunes_only_old_finished_history(engine: Engine) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    with engine.begin() as c:
        c.execute(
            insert(sync_logs),
            [
                {"sync_type": "sync_users", "status": status, "mode": "full", "started_at": at}
                for status, at in (
                    ("success", old),
                    ("failed", old),
                    ("running", old),
                    ("success", recent),
                )
            ],
        )
        ids = {}
        for days in (91, 89):
            ids[days] = inserted_id(
                c.execute(insert(group_analysis_runs).values(run_at=now - timedelta(days=days)))
            )
            c.execute(
                insert(group_analysis_suggestions).values(
                    run_id=ids[days], group_id="g", user_id=f"u{days}", reason="domain"
                )
            )
        c.execute(
            insert(sync_state).values(stream="northpass.people", watermark=old, updated_at=old)
        )
        c.execute(
            insert(lms_group_members).values(
                group_id="g", user_id="u91", status="pending", added_at=old
            )
        )

    outcome = run_task(engine, Settings(), "cleanup", cleanup)
    assert outcome.status == "success", outcome.error
    assert outcome.report.total("deleted") == 3

    with engine.connect() as c:
        logs = c.execute(select(sync_logs.c.status, sync_logs.c.started_at)).all()
        runs = list(c.scalars(select(group_analysis_runs.c.id)))
        suggestions = list(c.scalars(select(group_analysis_suggestions.c.user_id)))
        state = c.scalar(select(func.count()).select_from(sync_state))
        members = c.scalar(select(func.count()).select_from(lms_group_members))
    assert sorted(status for status, _ in logs) == ["running", "success", "success"]
    assert runs == [ids[89]] and suggestions == ["u89"]
    assert state == 1 and members == 1


def test_retention_is_configurable(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(
            insert(sync_logs).values(
                sync_type="cleanup",
                status="success",
                mode="full",
                started_at=utcnow() - timedelta(days=3),
            )
        )
    settings = Settings(PARTNERSYNC_KEEP_LOGS_DAYS=2)
    assert run_task(engine, settings, "cleanup", cleanup).report.total("deleted") == 1


def test_partner_snapshots_are_kept_unless_a_retention_is_set(engine: Engine) -> None:
    from partnersync.db.schema import partner_snapshots, partners

    today = utcnow()
    with engine.begin() as c:
        partner = c.execute(insert(partners).values(impartner_id=1, account_name="Acme"))
        assert partner.inserted_primary_key is not None
        pid = partner.inserted_primary_key[0]
        for age in (0, 10, 400):
            c.execute(
                insert(partner_snapshots).values(
                    partner_id=pid,
                    day=(today - timedelta(days=age)).date(),
                    certification_count=age,
                    total_npcu=0,
                    certified_users=0,
                    partner_users=0,
                    expiring_90d=0,
                    recorded_at=today,
                )
            )
    run_task(engine, Settings(), "cleanup", cleanup)
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(partner_snapshots)) == 3
    run_task(engine, Settings(PARTNERSYNC_KEEP_SNAPSHOTS_DAYS=30), "cleanup", cleanup)
    with engine.connect() as c:
        kept = sorted(c.scalars(select(partner_snapshots.c.certification_count)))
    assert kept == [0, 10]
