"""`partnersync migrate`: Alembic upgrade to head, then seed the task registry.

Seeding inserts missing tasks only, so a second run changes nothing and an
operator's choices (enabled, interval) are never overwritten. The tasks are handed in by
the caller (`tasks.registry.TASKS`): the database layer knows no task of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select

from partnersync.db.schema import scheduled_tasks
from partnersync.db.types import utcnow


class TaskSeed(Protocol):
    """What seeding needs of a task: its name and default interval."""

    @property
    def name(self) -> str: ...

    @property
    def interval_minutes(self) -> int: ...


MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def seed_tasks(connection: Connection, tasks: Iterable[TaskSeed]) -> int:
    """Insert the tasks that are missing; return how many were added."""
    existing = set(connection.scalars(select(scheduled_tasks.c.task_type)))
    missing = [
        {
            "task_type": task.name,
            "interval_minutes": task.interval_minutes,
            "enabled": getattr(task, "scheduled", True),  # on-demand tasks are never due
            "status": "idle",
            "next_run_at": utcnow(),
        }
        for task in tasks
        if task.name not in existing
    ]
    if missing:
        connection.execute(insert(scheduled_tasks), missing)
    return len(missing)


def migrate(engine: Engine, tasks: Iterable[TaskSeed]) -> int:
    """Bring the schema to head and seed `tasks`; return the number of tasks added."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    with engine.begin() as connection:
        return seed_tasks(connection, tasks)


def schema_problem(engine: Engine) -> str | None:
    """What is wrong with the database's schema for this version, or None when it is current."""
    with engine.connect() as connection:
        script = ScriptDirectory.from_config(alembic_config(connection))
        heads = set(script.get_heads())
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current == heads:
        return None
    if not current:
        return "has no schema yet: run `partnersync migrate`"
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(current - known)
    if unknown:
        return (
            f"has schema revision {', '.join(unknown)}, newer than this version of partnersync "
            f"knows ({', '.join(sorted(heads))}): upgrade partnersync"
        )
    return f"has schema revision {', '.join(sorted(current))}: run `partnersync migrate`"


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration (checked, never changed)."""
    with engine.connect() as connection:
        heads = ScriptDirectory.from_config(alembic_config(connection)).get_heads()
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(heads)
