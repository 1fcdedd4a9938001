"""Which coroutine runs each task."""

from __future__ import annotations

from partnersync.sync.people import sync_users
from partnersync.tasks.runner import TaskFunction

TASK_FUNCTIONS: dict[str, TaskFunction] = {
    "sync_users": sync_users,
}
