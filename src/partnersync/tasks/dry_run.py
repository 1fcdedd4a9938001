"""Dry runs: a task computes the vendor writes it would make and describes them instead.

A dry run changes nothing, so it goes around the runner: no lease, no `sync_logs` row, no
effect on the schedule (a dry run recorded as a run would push the next real run back).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.db.types import utcnow
from partnersync.sync.context import SyncContext
from partnersync.sync.report import RunReport
from partnersync.tasks.runner import TaskFunction
from partnersync.types import Mode


@dataclass(frozen=True)
class DryRun:
    report: RunReport
    planned: list[dict[str, Any]]


def dry_run(engine: Engine, settings: Settings, function: TaskFunction, *, mode: Mode) -> DryRun:
    """Run `function` with `dry_run` set; return its report and the writes it planned."""
    context = SyncContext(
        engine=engine, settings=settings, mode=mode, started_at=utcnow(), dry_run=True
    )

    async def execute() -> None:
        try:
            await function(context)
        finally:
            await context.aclose()

    asyncio.run(execute())
    return DryRun(context.report, context.planned)
