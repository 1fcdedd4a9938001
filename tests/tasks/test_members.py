"""`group_members_sync` against the sandbox: accepted suggestions end up confirmed members."""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, select

from partnersync.db.schema import lms_group_members, lms_groups
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks import analysis
from partnersync.tasks.dry_run import dry_run
from partnersync.tasks.members import GROUP_GONE, group_members_sync
from tests.sync.conftest import run, settings_for

from .conftest import pull_everything
from .test_analysis import linked_group


def memberships(engine: Engine, group_id: str) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as c:
        rows = c.execute(
            select(lms_group_members).where(
                lms_group_members.c.group_id == group_id, lms_group_members.c.deleted_at.is_(None)
            )
        )
        return {row.user_id: (row.status, row.pending_error) for row in rows}


def test_accepted_suggestions_become_confirmed_members(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    group_id, _, domain = linked_group(engine)
    ds = sandbox.dataset
    planted = [ds.add_person(f"colleague.{n}@{domain}", "Col", f"League{n}").id for n in range(3)]
    assert run(engine, sandbox, "sync_users").status == "success"
    assert run(engine, sandbox, "group_analysis").status == "success"
    with engine.begin() as c:
        accepted = analysis.accept(c, analysis.open_ids(c, group_id), utcnow())
        c.execute(insert(lms_groups).values(id="ghost-group", name="Gone meanwhile"))
        c.execute(
            insert(lms_group_members),
            [
                {"group_id": group_id, "user_id": "no-such-person", "status": "pending"},
                {"group_id": "ghost-group", "user_id": planted[0], "status": "pending"},
            ],
        )
    assert len(accepted.done) >= len(planted)
    with engine.connect() as c:  # the accepted ones, and the contacts group_analysis provisioned
        writable = c.scalar(
            select(func.count())
            .select_from(lms_group_members)
            .where(lms_group_members.c.status == "pending")
        )
    assert writable is not None and writable - 2 > len(accepted.done)

    plan = dry_run(engine, settings_for(sandbox), group_members_sync, mode="incremental")
    planned = {item["group_id"]: set(item["add_person_ids"]) for item in plan.planned}
    assert set(planted) | {"no-such-person"} <= planned[group_id]
    assert set(planted) - set(ds.memberships[group_id]) == set(planted)  # nothing written

    outcome = run(engine, sandbox, "group_members_sync")
    assert outcome.status == "success", outcome.error
    assert set(planted) <= set(ds.memberships[group_id])
    stored = memberships(engine, group_id)
    assert all(stored[user] == ("confirmed", None) for user in planted)
    status, reason = stored["no-such-person"]
    assert status == "pending" and reason and "refused" in reason
    assert memberships(engine, "ghost-group")[planted[0]] == ("pending", GROUP_GONE)
    assert outcome.report.total("failed") == 2
    assert outcome.report.total("updated") == writable - 2

    again = run(engine, sandbox, "group_members_sync")
    assert again.report.total("processed") == 2 and again.report.total("failed") == 2

    assert run(engine, sandbox, "sync_groups").status == "success"
    after = memberships(engine, group_id)
    assert all(after[user] == ("confirmed", None) for user in planted)
    assert after["no-such-person"][0] == "pending"
