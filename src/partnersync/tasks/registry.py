"""The ten contract tasks (docs/design.md §2.3): names, default intervals and `sync all` order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    name: str
    interval_minutes: int
    description: str
    is_pull: bool = False
    upstream: tuple[str, ...] = ()
    """Tasks whose data this one builds on: in `sync all`, it is skipped when one failed."""
    dry_run: bool = False
    """The task writes to a vendor and can describe those writes instead (`--dry-run`)."""
    needs: tuple[str, ...] = ()
    """The settings a run cannot do without, checked before it starts."""
    exclusive_with: tuple[str, ...] = ()
    """Tasks that must not run at the same time as this one (and it not with them)."""
    scheduled: bool = True
    """False: the task runs only when asked for; its registry row is seeded disabled."""


NORTHPASS = ("NORTHPASS_API_KEY",)
IMPARTNER = ("IMPARTNER_API_KEY",)

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "impartner_sync",
        360,
        "Impartner accounts and users → partners, contacts",
        is_pull=True,
        needs=IMPARTNER,
    ),
    TaskSpec(
        "sync_courses",
        240,
        "Northpass course catalog → lms_courses",
        is_pull=True,
        needs=NORTHPASS,
    ),
    TaskSpec(
        "sync_npcu",
        360,
        "course properties (npcu) → lms_courses.npcu_value",
        is_pull=True,
        upstream=("sync_courses",),
        needs=NORTHPASS,
    ),
    TaskSpec("sync_users", 120, "Northpass people → lms_users", is_pull=True, needs=NORTHPASS),
    TaskSpec(
        "sync_groups",
        120,
        "groups, memberships, group ↔ partner matching",
        is_pull=True,
        upstream=("impartner_sync",),
        needs=NORTHPASS,
    ),
    TaskSpec(
        "sync_enrollments",
        240,
        "transcripts of partner users → lms_enrollments",
        is_pull=True,
        upstream=("impartner_sync", "sync_users", "sync_groups"),
        needs=NORTHPASS,
    ),
    TaskSpec(
        "sync_to_impartner",
        360,
        "certification counts and NPCU totals → Impartner",
        upstream=("impartner_sync", "sync_courses", "sync_npcu", "sync_enrollments"),
        dry_run=True,
        needs=IMPARTNER,
    ),
    TaskSpec(
        "group_analysis",
        360,
        "LMS users who look like a partner's people but are not in its group",
        upstream=("impartner_sync", "sync_users", "sync_groups"),
    ),
    TaskSpec(
        "group_members_sync",
        360,
        "pending memberships → Northpass, then confirmed; people who left removed",
        upstream=("impartner_sync", "sync_groups"),
        dry_run=True,
        needs=NORTHPASS,
    ),
    TaskSpec("cleanup", 1440, "removes old run history"),
)
"""In the dependency order of docs/design.md §4; `cleanup` is not part of `sync all`."""

PARTNER_REFRESH = TaskSpec(
    "partner_refresh",
    1440,
    "one partner now: its groups' members, its people's transcripts, its counts pushed",
    needs=NORTHPASS + IMPARTNER,
    exclusive_with=("sync_enrollments", "sync_to_impartner"),
    scheduled=False,
)
"""Run on demand only (`sync partner ID`, `POST /api/partners/{id}/refresh`), never scheduled;
its registry row exists for its lease and is made at its first run."""

WEBHOOK_EVENTS = TaskSpec(
    "webhook_events",
    1440,
    "Northpass webhook events: the people they name re-read, their partners pushed",
    needs=NORTHPASS + IMPARTNER,
    exclusive_with=("sync_enrollments", "sync_to_impartner", "partner_refresh"),
    scheduled=False,
)
"""Run by the webhook worker of `partnersync serve` when events arrive, never scheduled."""

WEBHOOK_REPLAY = TaskSpec(
    "webhook_replay",
    15,
    "the Northpass sent-webhook log → events the receiver missed, into the inbox",
    needs=NORTHPASS,
    scheduled=False,
)
"""Run by the webhook worker every PARTNERSYNC_WEBHOOK_REPLAY_MINUTES; it writes only the
inbox, so it excludes no task."""

ON_DEMAND = {spec.name: spec for spec in (PARTNER_REFRESH, WEBHOOK_EVENTS, WEBHOOK_REPLAY)}
"""Tasks outside the contract's ten, whose registry rows are made at their first run."""

TASKS_BY_NAME = {task.name: task for task in TASKS}
SYNC_ALL_ORDER = tuple(task.name for task in TASKS if task.name != "cleanup")
PULL_ORDER = tuple(task.name for task in TASKS if task.is_pull)
"""The tasks that read the vendors, in `sync all` order."""
DRY_RUN_TASKS = frozenset(task.name for task in TASKS if task.dry_run)


def missing_settings(names: list[str], present: set[str]) -> list[str]:
    """The settings the tasks `names` need that are not in `present`, in a stable order."""
    specs = {**TASKS_BY_NAME, **ON_DEMAND}
    needed = dict.fromkeys(need for name in names for need in specs[name].needs)
    return [need for need in needed if need not in present]


def conflicts_of(name: str) -> tuple[str, ...]:
    """The tasks that may not run while `name` runs: declared either way round."""
    specs = (*TASKS, *ON_DEMAND.values())
    mine = next((spec.exclusive_with for spec in specs if spec.name == name), ())
    theirs = (spec.name for spec in specs if name in spec.exclusive_with)
    return tuple(sorted({*mine, *theirs}))
