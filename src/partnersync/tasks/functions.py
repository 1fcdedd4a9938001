"""Which coroutine runs each task."""

from __future__ import annotations

from partnersync.sync.courses import sync_courses, sync_npcu
from partnersync.sync.enrollments import sync_enrollments
from partnersync.sync.groups import sync_groups
from partnersync.sync.impartner import impartner_sync
from partnersync.sync.people import sync_users
from partnersync.tasks.analysis import group_analysis
from partnersync.tasks.cleanup import cleanup
from partnersync.tasks.members import group_members_sync
from partnersync.tasks.push import sync_to_impartner
from partnersync.tasks.runner import TaskFunction

TASK_FUNCTIONS: dict[str, TaskFunction] = {
    "impartner_sync": impartner_sync,
    "sync_courses": sync_courses,
    "sync_npcu": sync_npcu,
    "sync_users": sync_users,
    "sync_groups": sync_groups,
    "sync_enrollments": sync_enrollments,
    "sync_to_impartner": sync_to_impartner,
    "group_analysis": group_analysis,
    "group_members_sync": group_members_sync,
    "cleanup": cleanup,
}
