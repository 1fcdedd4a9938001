"""`sync_groups` against the sandbox over loopback, on SQLite and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update

from partnersync.db.schema import lms_group_members, lms_groups, partners, sync_state
from partnersync.sandbox.data import Dataset
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.group_links import clear_manual_link, set_manual_link
from partnersync.sync.matching import is_all_partners

from .conftest import run

GROUPS = "northpass.groups"


def add_partners(engine: Engine, ds: Dataset) -> dict[int, int]:
    """The sandbox's accounts as partner rows; returns Impartner id → partners.id."""
    with engine.begin() as connection:
        for account in ds.accounts.values():
            connection.execute(
                insert(partners).values(
                    impartner_id=account.Id, account_name=account.Name, is_active=account.IsActive
                )
            )
        rows = connection.execute(select(partners.c.impartner_id, partners.c.id)).all()
    return {impartner_id: partner_id for impartner_id, partner_id in rows}


def group_of(ds: Dataset, account_id: int) -> str:
    """The sandbox group generated for an account (named after it in some spelling)."""
    name = ds.accounts[account_id].Name
    assert name is not None
    core = name.split()[0].lower()
    return next(
        g.id for g in ds.groups.values() if g.name.strip().lower().startswith(("ptr_" + core, core))
    )


def links(engine: Engine) -> dict[str, tuple[int | None, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(lms_groups.c.id, partners.c.impartner_id, lms_groups.c.partner_link)
            .select_from(lms_groups.outerjoin(partners, partners.c.id == lms_groups.c.partner_id))
            .where(lms_groups.c.deleted_at.is_(None))
        ).all()
    return {row.id: (row.impartner_id, row.partner_link) for row in rows}


def members_in_db(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(lms_group_members).where(lms_group_members.c.deleted_at.is_(None))
        ).all()
    return {(row.group_id, row.user_id): row.status for row in rows}


def members_in_sandbox(ds: Dataset, group_ids: set[str]) -> dict[tuple[str, str], str]:
    return {
        (group_id, person_id): "confirmed"
        for group_id in group_ids
        for person_id in ds.memberships.get(group_id, {})
    }


def kept_groups(engine: Engine) -> set[str]:
    """Groups whose memberships are stored: partner-linked ones and "All Partners"."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(lms_groups.c.id, lms_groups.c.name, lms_groups.c.partner_id).where(
                lms_groups.c.deleted_at.is_(None)
            )
        ).all()
    return {row.id for row in rows if row.partner_id is not None or is_all_partners(row.name)}


def watermark(engine: Engine) -> Any:
    with engine.connect() as connection:
        return connection.scalar(
            select(sync_state.c.watermark).where(sync_state.c.stream == GROUPS)
        )


def test_full_sync_stores_groups_links_name_variants_and_memberships(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    outcome = run(engine, sandbox, "sync_groups", "full")
    assert outcome.status == "success", outcome.error

    with engine.connect() as connection:
        stored = {row.id: row for row in connection.execute(select(lms_groups))}
    assert {gid: row.name for gid, row in stored.items()} == {
        gid: g.name for gid, g in ds.groups.items()
    }
    expected_links: dict[str, tuple[int | None, str | None]] = {
        gid: (None, None) for gid in ds.groups
    }
    for account in ds.accounts.values():
        if account.Name is not None and account.IsActive:
            expected_links[group_of(ds, account.Id)] = (account.Id, "auto")
    assert links(engine) == expected_links
    # the planted spellings: exact, ptr_, upper, lower, no suffix, punctuation; inactive unlinked
    linked_names = {stored[gid].name for gid, (p, _) in expected_links.items() if p}
    assert any(name.startswith("ptr_") for name in linked_names)
    assert any(name.isupper() for name in linked_names)
    assert any("," in name for name in linked_names)

    kept = kept_groups(engine)
    assert any(is_all_partners(ds.groups[gid].name) for gid in kept)
    assert members_in_db(engine) == members_in_sandbox(ds, kept)
    with engine.connect() as connection:
        assert (
            connection.scalar(
                select(lms_group_members.c.group_id).where(lms_group_members.c.added_at.is_(None))
            )
            is None
        )
        unsynced = connection.scalars(
            select(lms_groups.c.id).where(lms_groups.c.memberships_synced_at.is_(None))
        ).all()
    assert set(unsynced) == set(ds.groups) - kept
    notes = " ".join(outcome.report.stream(GROUPS).notes)
    assert "6 linked" in notes and "0 ambiguous" in notes


def test_manual_links_survive_resyncs_and_clearing_hands_back_to_matching(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    partner_ids = add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    accounts = [a for a in ds.accounts.values() if a.Name and a.IsActive]
    first, second = accounts[0], accounts[1]
    unrelated = next(g.id for g in ds.groups.values() if g.name == "Internal Staff")
    moved = group_of(ds, first.Id)
    with engine.begin() as connection:
        set_manual_link(connection, moved, partner_ids[second.Id])  # against the name match
        set_manual_link(connection, unrelated, partner_ids[first.Id])

    assert run(engine, sandbox, "sync_groups", "full").status == "success"
    assert run(engine, sandbox, "sync_groups").status == "success"
    current = links(engine)
    assert current[moved] == (second.Id, "manual")
    assert current[unrelated] == (first.Id, "manual")
    assert members_in_db(engine) == members_in_sandbox(ds, kept_groups(engine))
    assert any(group == unrelated for group, _ in members_in_db(engine))

    with engine.begin() as connection:
        clear_manual_link(connection, moved)
    run(engine, sandbox, "sync_groups")
    assert links(engine)[moved] == (first.Id, "auto")


def test_incremental_runs_converge_after_membership_and_group_changes(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    accounts = [a for a in ds.accounts.values() if a.Name and a.IsActive]
    partner_group = group_of(ds, accounts[2].Id)
    all_partners = next(g.id for g in ds.groups.values() if is_all_partners(g.name))
    outsider = next(p for p in ds.people if p not in ds.person_groups)
    ds.add_membership(partner_group, outsider)
    ds.remove_membership(all_partners, next(iter(ds.memberships[all_partners])))
    new_group = ds.add_group(f"PTR_{accounts[3].Name}")
    ds.add_membership(new_group.id, outsider)
    renamed = group_of(ds, accounts[4].Id)
    ds.rename_group(renamed, "Renamed Away")

    outcome = run(engine, sandbox, "sync_groups")
    assert outcome.status == "success", outcome.error
    current = links(engine)
    assert current[new_group.id] == (accounts[3].Id, "auto")
    assert current[renamed] == (None, None)
    assert members_in_db(engine) == members_in_sandbox(ds, kept_groups(engine))
    memberships = outcome.report.stream("northpass.memberships")
    dropped = len(ds.memberships[renamed])  # an unlinked group's memberships are not kept
    assert (memberships.created, memberships.deleted) == (2, 1 + dropped)

    quiet = run(engine, sandbox, "sync_groups")
    assert quiet.report.stream("northpass.memberships").processed == 0  # nothing re-read


def test_pending_rows_are_kept_and_confirmed_once_northpass_lists_them(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    group = group_of(ds, next(a.Id for a in ds.accounts.values() if a.Name and a.IsActive))
    newcomer = next(p for p in ds.people if p not in ds.person_groups)
    added = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as connection:
        for user_id in ("not-in-northpass-yet", newcomer):
            connection.execute(
                insert(lms_group_members).values(
                    group_id=group, user_id=user_id, status="pending", added_at=added
                )
            )
    ds.add_membership(group, newcomer)  # as group_members_sync would have pushed it

    assert run(engine, sandbox, "sync_groups", "full").status == "success"
    stored = members_in_db(engine)
    assert stored[(group, "not-in-northpass-yet")] == "pending"
    assert stored[(group, newcomer)] == "confirmed"
    with engine.connect() as connection:
        row = connection.execute(
            select(lms_group_members).where(
                lms_group_members.c.group_id == group, lms_group_members.c.user_id == newcomer
            )
        ).one()
    assert row.added_at == added and row.confirmed_at is not None


def test_a_membership_sweep_above_the_share_is_refused_and_removes_nothing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    before = members_in_db(engine)
    all_partners = next(g.id for g in ds.groups.values() if is_all_partners(g.name))
    for person_id in list(ds.memberships[all_partners]):
        ds.remove_membership(all_partners, person_id)

    outcome = run(engine, sandbox, "sync_groups", "full")
    assert outcome.status == "failed"
    assert "refusing to soft-delete" in (outcome.error or "")
    assert members_in_db(engine) == before
    with engine.connect() as connection:
        flagged = connection.scalar(
            select(lms_groups.c.memberships_synced_at).where(lms_groups.c.id == all_partners)
        )
    assert flagged is None  # it changed: still to be read once the operator decides


def test_a_failed_run_leaves_watermark_and_data_and_a_later_run_catches_up(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    mark, before = watermark(engine), members_in_db(engine)
    group = max(kept_groups(engine), key=lambda gid: len(ds.memberships[gid]))
    outsider = next(p for p in ds.people if p not in ds.person_groups)
    ds.add_membership(group, outsider)  # one in, one out: the member count gives nothing away
    ds.remove_membership(group, next(iter(ds.memberships[group])))

    sandbox.set_knobs(fault_5xx_share=1.0)
    failed = run(engine, sandbox, "sync_groups", PARTNERSYNC_HTTP_MAX_ATTEMPTS=2)
    assert failed.status == "failed" and "GET /v2/groups" in (failed.error or "")
    assert watermark(engine) == mark and members_in_db(engine) == before

    # the groups listing works, the membership requests fail: the changed group stays flagged
    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/v2/groups/")
    assert run(engine, sandbox, "sync_groups", PARTNERSYNC_HTTP_MAX_ATTEMPTS=2).status == "failed"
    assert members_in_db(engine) == before
    sandbox.set_knobs(fault_5xx_share=0.0, fault_path_prefix="")
    assert run(engine, sandbox, "sync_groups", PARTNERSYNC_WATERMARK_OVERLAP_SECONDS=0).status == (
        "success"
    )
    assert members_in_db(engine) == members_in_sandbox(ds, kept_groups(engine))


def test_deleted_groups_and_unnamed_groups(engine: Engine, sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    gone = group_of(ds, next(a.Id for a in ds.accounts.values() if a.Name and a.IsActive))
    ds.delete_group(gone)
    with engine.begin() as connection:  # flagged for a membership read: it will answer 404
        connection.execute(
            update(lms_groups).where(lms_groups.c.id == gone).values(memberships_synced_at=None)
        )
    incremental = run(engine, sandbox, "sync_groups")
    assert incremental.status == "success"
    assert any(
        "not found (HTTP 404)" in n
        for n in incremental.report.stream("northpass.memberships").notes
    )

    unnamed = ds.add_group("")
    full = run(engine, sandbox, "sync_groups", "full")
    assert full.status == "success", full.error
    assert full.report.stream(GROUPS).failed == 1
    assert full.report.stream(GROUPS).deleted == 1
    with engine.connect() as connection:
        deleted_at = connection.scalar(
            select(lms_groups.c.deleted_at).where(lms_groups.c.id == gone)
        )
        assert (
            connection.scalar(select(lms_groups.c.id).where(lms_groups.c.id == unnamed.id)) is None
        )
    assert deleted_at is not None
    assert not any(group == gone for group, _ in members_in_db(engine))


def test_an_empty_listing_for_a_group_that_reports_members_removes_nobody(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    group = max(kept_groups(engine), key=lambda gid: len(ds.memberships[gid]))
    before = members_in_db(engine)
    with ds.change():  # the listing empties, the group itself does not change
        ds.memberships[group].clear()
    with engine.begin() as connection:
        connection.execute(
            update(lms_groups).where(lms_groups.c.id == group).values(memberships_synced_at=None)
        )
    outcome = run(engine, sandbox, "sync_groups")
    assert outcome.status == "success"
    assert members_in_db(engine) == before
    notes = outcome.report.stream("northpass.memberships").notes
    assert any(group in note and "empty listing" in note for note in notes)


def test_unlinking_many_groups_at_once_is_refused_before_memberships_go(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    add_partners(engine, ds)
    run(engine, sandbox, "sync_groups", "full")
    before, linked = members_in_db(engine), links(engine)
    with engine.begin() as connection:  # partners that went inactive still own their groups
        connection.execute(update(partners).values(is_active=False))
    kept = run(engine, sandbox, "sync_groups")
    assert kept.status == "success" and (links(engine), members_in_db(engine)) == (linked, before)
    assert "(6 still linked to them)" in " ".join(kept.report.stream(GROUPS).notes)
    with engine.begin() as connection:
        connection.execute(update(partners).values(is_active=True))
    with engine.begin() as connection:  # e.g. a bad partner import lost every name
        names = {
            row.id: row.account_name
            for row in connection.execute(select(partners.c.id, partners.c.account_name))
        }
        connection.execute(update(partners).values(account_name=None))
    outcome = run(engine, sandbox, "sync_groups")
    assert outcome.status == "failed" and "refusing to soft-delete" in (outcome.error or "")
    assert members_in_db(engine) == before

    with engine.begin() as connection:
        connection.execute(
            update(partners)
            .where(partners.c.id == bindparam("pid"))
            .values(account_name=bindparam("n")),
            [{"pid": pid, "n": name} for pid, name in names.items()],
        )
    assert run(engine, sandbox, "sync_groups").status == "success"
    assert members_in_db(engine) == members_in_sandbox(ds, kept_groups(engine))
