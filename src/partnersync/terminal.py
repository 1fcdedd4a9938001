"""What the commands show on a terminal: progress bars while tasks run, a summary after."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from partnersync.sync.context import Progress as ProgressCallback
from partnersync.sync.report import printable
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.run_all import SkippedTask


class RateColumn(ProgressColumn):
    """Records per second, once Rich has measured some."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.1f}/s" if task.speed else "", style="progress.data.speed")


class StageBars:
    """One bar per stage (`task · stream`); when a new stage begins, the ones before it are
    finished, so their clocks stop instead of counting on."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}

    def update(self, stage: str, done: int, total: int | None) -> None:
        if stage not in self.bars:
            self.finish(but=stage)
            self.bars[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.bars[stage], completed=done, total=total)

    def finish(self, but: str | None = None) -> None:
        for stage, bar in self.bars.items():
            task = self.progress.tasks[bar]
            if stage != but and not task.finished:
                self.progress.update(bar, total=task.completed)


def stage_progress(console: Console) -> Progress:
    """Name, bar, done of total, rate, time left (when the total is known), time taken."""
    return Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def progress_bars(console: Console) -> Iterator[ProgressCallback | None]:
    """Progress bars for the runs of one command when `console` is a terminal; else none."""
    if not console.is_terminal:
        yield None
        return
    with stage_progress(console) as progress:
        bars = StageBars(progress)
        yield bars.update
        bars.finish()


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
            Text(printable(outcome.error or "")),  # vendor text: no markup, no escapes
        )
    return table
