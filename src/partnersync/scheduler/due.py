"""Which tasks a scheduler tick starts, as a pure function of the task rows and the time."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from partnersync.types import Mode


@dataclass(frozen=True)
class TaskState:
    """The part of a `scheduled_tasks` row due selection looks at."""

    name: str
    enabled: bool
    next_run_at: datetime | None
    status: str
    lease_token: int = 0
    """Seen when found due; the claim is refused if it changed (another replica ran it)."""


def is_due(task: TaskState, now: datetime) -> bool:
    """Enabled, idle, and its time has come; a task never scheduled (no time) is due."""
    return (
        task.enabled
        and task.status == "idle"
        and (task.next_run_at is None or task.next_run_at <= now)
    )


def due_tasks(
    tasks: Iterable[TaskState],
    now: datetime,
    order: Sequence[str],
    free_slots: int,
    busy: Collection[str] = (),
) -> list[TaskState]:
    """The due tasks to start now: at most `free_slots`, in dependency `order`.

    However long the scheduler was down, a task is due once: its row holds one next
    time, not a queue of missed slots. Ordering by dependency (not by how overdue a task
    is) means after downtime the sources are refreshed before what is derived from them.
    Tasks not in `order` come last, by name. `busy` names tasks this process is already
    running, so they do not take a slot; the database lease, not this set, is what keeps
    a task from running twice.
    """
    rank = {name: position for position, name in enumerate(order)}
    candidates = [task for task in tasks if task.name not in busy and is_due(task, now)]
    candidates.sort(key=lambda task: (rank.get(task.name, len(rank)), task.name))
    return candidates[: max(free_slots, 0)]


def scheduled_mode(
    last_full_success: datetime | None, now: datetime, full_every: timedelta | None
) -> Mode:
    """Full when the task has had no successful full run within `full_every`, else incremental.

    Incremental runs cannot see deletions, and some changes (memberships of a group whose
    own timestamp did not move, transcripts of quiet users) only a full read finds; a
    periodic full run bounds how long such a change can stay unseen.
    """
    if full_every is None:
        return "incremental"
    if last_full_success is None or now - last_full_success >= full_every:
        return "full"
    return "incremental"
