"""The operator's path through the CLI: dry-run push, analysis, accepting suggestions."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select, true
from typer.testing import CliRunner

from partnersync.cli import app
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import partners
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks.registry import TASKS

from .conftest import pull_everything
from .test_analysis import linked_group
from .test_push import patches


def test_dry_run_then_suggestions_accepted_and_written(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate(engine, TASKS)
    pull_everything(engine, sandbox)
    env = {
        "PARTNERSYNC_DATABASE_URL": url,
        "NORTHPASS_BASE_URL": sandbox.base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "IMPARTNER_BASE_URL": sandbox.base_url,
        "IMPARTNER_API_KEY": sandbox.impartner_key,
        "IMPARTNER_TENANT_ID": str(sandbox.tenant_id),
        "COLUMNS": "250",
    }
    cli = CliRunner(env=env)

    refused = cli.invoke(app, ["sync", "sync_users", "--dry-run"])
    assert refused.exit_code == 2 and "not supported" in refused.output

    sandbox.reset_counters()
    planned = cli.invoke(app, ["sync", "sync_to_impartner", "--dry-run"])
    assert planned.exit_code == 0, planned.output
    with engine.connect() as c:
        active = c.scalar(select(func.count()).where(partners.c.is_active == true()))
    items = json.loads(planned.stdout)
    assert len(items) == active and all("Name" not in item for item in items)
    assert patches(sandbox) == 0

    group_id, _, domain = linked_group(engine)
    person = sandbox.dataset.add_person(f"cli.colleague@{domain}", "Cli", "Colleague").id
    for task in ("sync_users", "group_analysis"):
        assert cli.invoke(app, ["sync", task]).exit_code == 0
    listed = cli.invoke(app, ["suggestions", "--group", group_id])
    assert listed.exit_code == 0 and person in listed.output
    assert group_id in cli.invoke(app, ["suggestions", "groups"]).output
    assert cli.invoke(app, ["suggestions", "accept", "--all"]).exit_code == 2

    accepted = cli.invoke(app, ["suggestions", "accept", "--group", group_id, "--all"])
    assert accepted.exit_code == 0 and "added as pending members" in accepted.output
    written = cli.invoke(app, ["sync", "group_members_sync"])
    assert written.exit_code == 0, written.output
    assert person in sandbox.dataset.memberships[group_id]

    listed = cli.invoke(app, ["access", "audit", "--user", person, "--json"])
    audit = json.loads(listed.stdout)["items"]
    assert [(a["action"], a["group_id"], a["source"], a["decided_by"]) for a in audit] == [
        ("add", group_id, "suggestion", "operator")
    ]
    shown = cli.invoke(app, ["history", "--id", str(audit[0]["run_id"])])
    assert "membership writes" in shown.output and person in shown.output
    table = cli.invoke(app, ["access", "audit", "--group", group_id])
    assert table.exit_code == 0 and "suggestion" in table.output and person in table.output
    wrong = cli.invoke(app, ["access", "audit", "--action", "delete"])
    assert wrong.exit_code == 2 and "--action must be add or remove" in wrong.output
