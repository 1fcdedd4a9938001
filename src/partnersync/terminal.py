"""What the commands show on a terminal: progress bars while tasks run, a summary after."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from partnersync.sync.context import Progress as ProgressCallback
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.run_all import SkippedTask


@contextmanager
def progress_bars(console: Console) -> Iterator[ProgressCallback | None]:
    """Rich progress bars, one per stream, when `console` is a terminal; nothing otherwise."""
    if not console.is_terminal:
        yield None
        return
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.update(bars[stage], completed=done, total=total)

        yield update


def summary(outcomes: Iterable[RunOutcome | SkippedTask]) -> Table:
    table = Table(
        "task",
        "status",
        "processed",
        "created",
        "updated",
        "deleted",
        "failed",
        "requests",
        "seconds",
        "error",
        title="sync summary",
    )
    for outcome in outcomes:
        if isinstance(outcome, SkippedTask):
            table.add_row(
                outcome.task, Text("skipped", style="yellow"), *[""] * 7, Text(outcome.reason)
            )
            continue
        report = outcome.report
        seconds = (outcome.completed_at - outcome.started_at).total_seconds()
        colour = "green" if outcome.status == "success" else "red"
        table.add_row(
            outcome.task,
            Text(outcome.status, style=colour),
            *(str(report.total(name)) for name in ("processed", "created", "updated", "deleted")),
            str(report.total("failed")),
            str(report.requests),
            f"{seconds:.1f}",
            Text(outcome.error or ""),  # vendor text, never read as markup
        )
    return table
