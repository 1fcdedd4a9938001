"""Progress bars name the task, and a stream's clock stops when the next one begins."""

from __future__ import annotations

import io

from rich.console import Console

from partnersync.tasks.run_all import for_task
from partnersync.terminal import StageBars, stage_progress


def test_stages_are_named_after_their_task_and_finished_when_the_next_begins() -> None:
    progress = stage_progress(Console(file=io.StringIO(), force_terminal=True, width=120))
    bars = StageBars(progress)
    named = for_task(bars.update, "impartner_sync")
    assert named is not None
    named("impartner.accounts", 2000, None)  # total unknown while reading
    named("impartner.users", 10, 40)
    tasks = {task.description: task for task in progress.tasks}
    accounts = tasks["impartner_sync · impartner.accounts"]
    assert accounts.finished and accounts.total == 2000  # its clock stopped
    users = tasks["impartner_sync · impartner.users"]
    assert not users.finished and users.total == 40
    bars.finish()
    assert users.finished
