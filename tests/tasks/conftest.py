"""Shared by the task tests: the sync tests' sandbox, and a database filled from it."""

from __future__ import annotations

from sqlalchemy import Engine

from partnersync.sandbox.server import RunningSandbox
from tests.sync.conftest import run, sandbox

__all__ = ["pull_everything", "sandbox"]

PULLS = (
    "impartner_sync",
    "sync_courses",
    "sync_npcu",
    "sync_users",
    "sync_groups",
    "sync_enrollments",
)


def pull_everything(engine: Engine, sb: RunningSandbox) -> None:
    """Fill the database from the sandbox with the real pull tasks, as `sync all --full` would."""
    for task in PULLS:
        outcome = run(engine, sb, task, "full")
        assert outcome.status == "success", (task, outcome.error)
