"""The deletion guard covers every path that deletes, and an operator can lift it once.

Full-read sweeps were guarded already; Impartner's `_deleted` feed, transcript sweeps and
membership removals go through the same share (`PARTNERSYNC_SWEEP_MAX_SHARE`). Above it a
run deletes nothing and fails naming the override; `--allow-mass-delete` lifts it for one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, select

from partnersync.db.schema import contacts, lms_enrollments, partners
from partnersync.sandbox.server import RunningSandbox

from .conftest import run, settings_for
from .test_enrollments_sync import make_partner_users

SCRIPT = Path(sys.executable).with_name("partnersync")


def soft_deleted(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).select_from(table).where(table.c.deleted_at.is_not(None))
            )
            or 0
        )


def delete_half_of_impartner(sandbox: RunningSandbox) -> tuple[int, int]:
    ds = sandbox.dataset
    accounts = sorted(ds.accounts)[: len(ds.accounts) // 2]
    users = sorted(ds.users)[: len(ds.users) // 2]
    for account_id in accounts:
        ds.delete_account(account_id)
    for user_id in users:
        ds.delete_user(user_id)
    return len(accounts), len(users)


def test_mass_deletions_listed_by_impartner_are_refused(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert run(engine, sandbox, "impartner_sync", "full").status == "success"
    delete_half_of_impartner(sandbox)

    outcome = run(engine, sandbox, "impartner_sync", "incremental")

    assert outcome.status == "failed"
    assert "refusing to soft-delete" in (outcome.error or "")
    assert "--allow-mass-delete" in (outcome.error or "")
    assert soft_deleted(engine, partners) == 0 and soft_deleted(engine, contacts) == 0


def test_the_override_lets_real_mass_deletions_through_once(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert run(engine, sandbox, "impartner_sync", "full").status == "success"
    accounts, users = delete_half_of_impartner(sandbox)
    settings = settings_for(sandbox)
    env = {
        **os.environ,
        "PARTNERSYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "IMPARTNER_BASE_URL": settings.impartner_base_url,
        "IMPARTNER_API_KEY": sandbox.impartner_key,
        "IMPARTNER_TENANT_ID": str(sandbox.tenant_id),
    }
    command = [str(SCRIPT), "sync", "impartner_sync"]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert soft_deleted(engine, partners) == 0

    allowed = subprocess.run(
        [*command, "--allow-mass-delete"], env=env, capture_output=True, text=True, timeout=120
    )
    assert allowed.returncode == 0, allowed.stderr
    assert (soft_deleted(engine, partners), soft_deleted(engine, contacts)) == (accounts, users)


def test_transcripts_emptied_for_many_users_at_once_delete_nothing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    people = make_partner_users(engine, sandbox, 6)
    assert run(engine, sandbox, "sync_enrollments", "full").status == "success"
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(lms_enrollments))
    assert stored
    ds = sandbox.dataset
    with ds.change():  # a broken read: most transcripts come back empty
        for person in people[:4]:
            ds.transcripts[person] = []

    outcome = run(engine, sandbox, "sync_enrollments", "full")

    assert outcome.status == "failed"
    assert "refusing to soft-delete" in (outcome.error or "")
    assert soft_deleted(engine, lms_enrollments) == 0

    lifted: Any = run(
        engine, sandbox, "sync_enrollments", "full", PARTNERSYNC_ALLOW_MASS_DELETE=True
    )
    assert lifted.status == "success"
    assert soft_deleted(engine, lms_enrollments) > 0
