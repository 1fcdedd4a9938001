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
        "pending local memberships → Northpass, then confirmed",
        upstream=("sync_groups",),
        dry_run=True,
        needs=NORTHPASS,
    ),
    TaskSpec("cleanup", 1440, "removes old run history"),
)
"""In the dependency order of docs/design.md §4; `cleanup` is not part of `sync all`."""

TASKS_BY_NAME = {task.name: task for task in TASKS}
SYNC_ALL_ORDER = tuple(task.name for task in TASKS if task.name != "cleanup")
PULL_ORDER = tuple(task.name for task in TASKS if task.is_pull)
"""The tasks that read the vendors, in `sync all` order."""
DRY_RUN_TASKS = frozenset(task.name for task in TASKS if task.dry_run)


def missing_settings(names: list[str], present: set[str]) -> list[str]:
    """The settings the tasks `names` need that are not in `present`, in a stable order."""
    needed = dict.fromkeys(need for name in names for need in TASKS_BY_NAME[name].needs)
    return [need for need in needed if need not in present]
