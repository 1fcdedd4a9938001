"""A scheduler replica for the multi-process tests: `python -m tests.scheduler.replica OWNER`.

It runs `partnersync.scheduler.scheduler.serve`, the code behind `partnersync serve`
(signals, background loop, graceful shutdown), with small task coroutines in place of
the syncs, so no vendor API is involved. Settings come from the environment as usual;
`REPLICA_TASKS` names the tasks it can run (comma-separated), `REPLICA_TASK_SECONDS`
how long each run takes, and `REPLICA_ENDLESS` the tasks that run until cancelled.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from partnersync import logs
from partnersync.config import load_settings
from partnersync.db.engine import make_engine
from partnersync.scheduler.scheduler import Scheduler, serve
from partnersync.sync.context import SyncContext
from partnersync.tasks.runner import TaskFunction


def timed(seconds: float) -> TaskFunction:
    async def run(context: SyncContext) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            context.checkpoint()
            await asyncio.sleep(0.02)

    return run


def names(variable: str) -> list[str]:
    return [name for name in os.environ.get(variable, "").split(",") if name]


def main() -> None:
    logs.configure("INFO")
    settings = load_settings()
    seconds = float(os.environ.get("REPLICA_TASK_SECONDS", "0.2"))
    functions = {name: timed(seconds) for name in names("REPLICA_TASKS")}
    functions |= {name: timed(float("inf")) for name in names("REPLICA_ENDLESS")}
    engine = make_engine(settings.database_url)
    serve(Scheduler(engine, settings, functions=functions, owner=sys.argv[1]))


if __name__ == "__main__":
    main()
