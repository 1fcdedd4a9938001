"""`sync all`: every sync task once, in dependency order, never on an upstream's partial data.

The one loop for the CLI and the demo. A task whose upstream (`TaskSpec.upstream`) failed, or
was itself skipped, is not run: it is reported as skipped with the reason, and the caller
exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.sync.context import Progress
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import SYNC_ALL_ORDER, TASKS_BY_NAME
from partnersync.tasks.runner import run_task
from partnersync.types import Mode, Trigger


@dataclass(frozen=True)
class SkippedTask:
    """A task `sync all` did not run, and why."""

    task: str
    reason: str
    status: Literal["skipped"] = "skipped"


def run_all(
    engine: Engine,
    settings: Settings,
    *,
    mode: Mode = "incremental",
    trigger: Trigger = "cli",
    progress: Progress | None = None,
    names: Sequence[str] = SYNC_ALL_ORDER,
) -> list[RunOutcome | SkippedTask]:
    """Run `names` in order; raises `AlreadyRunning` like `run_task` when a lease is held."""
    results: list[RunOutcome | SkippedTask] = []
    not_done: set[str] = set()
    for name in names:
        blocked = [task for task in TASKS_BY_NAME[name].upstream if task in not_done]
        if blocked:
            results.append(SkippedTask(name, f"upstream {', '.join(blocked)} did not succeed"))
            not_done.add(name)
            continue
        outcome = run_task(
            engine,
            settings,
            name,
            TASK_FUNCTIONS[name],
            mode=mode,
            trigger=trigger,
            progress=for_task(progress, name),
        )
        results.append(outcome)
        if outcome.status != "success":
            not_done.add(name)
    return results


def for_task(progress: Progress | None, task: str) -> Progress | None:
    """`progress` with each stage named after its task too."""
    if progress is None:
        return None
    report = progress

    def named(stage: str, done: int, total: int | None) -> None:
        report(f"{task} · {stage}", done, total)

    return named


def all_succeeded(results: Sequence[RunOutcome | SkippedTask]) -> bool:
    return all(result.status == "success" for result in results)
