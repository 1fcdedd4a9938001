"""No push from partial data: counts built from half the enrollments never reach the CRM.

`sync all` skips the tasks whose upstream failed and exits non-zero; `sync_to_impartner`
itself (scheduled, CLI or API: it is the task that checks) refuses while the latest
`sync_enrollments` failed or a partner user's enrollments were never read.
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from typer.testing import CliRunner

from partnersync.cli import app
from partnersync.db.schema import lms_users
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.partner_users import partner_user_ids
from partnersync.tasks.run_all import SkippedTask, all_succeeded, run_all
from tests.sync.conftest import run, settings_for

PATCH = "PATCH /api/objects/v1/{object}"


def patches(sandbox: RunningSandbox) -> int:
    return int(sandbox.stats()["routes"].get(PATCH, {}).get("total", 0))


def failing_transcripts(sandbox: RunningSandbox) -> None:
    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/v2/transcripts")


def test_sync_all_skips_the_push_when_enrollments_failed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    failing_transcripts(sandbox)
    results = run_all(engine, settings_for(sandbox), mode="full")
    by_task = {result.task: result for result in results}
    assert by_task["sync_enrollments"].status == "failed"
    skipped = by_task["sync_to_impartner"]
    assert isinstance(skipped, SkippedTask) and "sync_enrollments" in skipped.reason
    assert by_task["sync_users"].status == "success"
    assert not all_succeeded(results)
    assert patches(sandbox) == 0


def test_the_push_refuses_on_its_own_while_the_latest_enrollment_sync_failed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert all_succeeded(run_all(engine, settings_for(sandbox), mode="full"))
    failing_transcripts(sandbox)
    assert run(engine, sandbox, "sync_enrollments", "full").status == "failed"
    sandbox.reset_counters()

    refused = run(engine, sandbox, "sync_to_impartner", "full")

    assert refused.status == "failed"
    assert "refusing to push" in (refused.error or "") and "failed" in (refused.error or "")
    assert patches(sandbox) == 0

    sandbox.set_knobs(fault_5xx_share=0.0)
    assert run(engine, sandbox, "sync_enrollments", "full").status == "success"
    assert run(engine, sandbox, "sync_to_impartner", "full").status == "success"
    assert patches(sandbox) > 0


def test_the_push_refuses_while_a_partner_users_enrollments_were_never_read(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert all_succeeded(run_all(engine, settings_for(sandbox), mode="full"))
    with engine.begin() as connection:
        someone = connection.execute(partner_user_ids().limit(1)).scalar_one()
        connection.execute(
            update(lms_users).where(lms_users.c.id == someone).values(enrollments_synced_at=None)
        )
    sandbox.reset_counters()
    refused = run(engine, sandbox, "sync_to_impartner")
    assert refused.status == "failed" and "never read" in (refused.error or "")
    assert patches(sandbox) == 0


def test_sync_all_on_the_command_line_exits_non_zero_and_reports_the_skip(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    failing_transcripts(sandbox)
    settings = settings_for(sandbox, PARTNERSYNC_HTTP_MAX_ATTEMPTS=2)
    env = {
        "PARTNERSYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "NORTHPASS_BASE_URL": settings.northpass_base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "IMPARTNER_BASE_URL": settings.impartner_base_url,
        "IMPARTNER_API_KEY": sandbox.impartner_key,
        "IMPARTNER_TENANT_ID": str(sandbox.tenant_id),
        "NORTHPASS_RATE_PER_SECOND": "1000",
        "IMPARTNER_RATE_PER_SECOND": "1000",
        "PARTNERSYNC_HTTP_MAX_ATTEMPTS": "2",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["sync", "all", "--full"], env=env)
    assert result.exit_code == 1
    assert "skipped" in result.output and "sync_to_impartner" in result.output
    assert patches(sandbox) == 0
