"""Tasks: the registry with state and live progress, runs on demand, schedule changes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from partnersync.tasks.runner import AlreadyRunning, UnknownTask
from partnersync.tasks.schedule import change_schedule
from partnersync.types import Mode
from partnersync.web import queries
from partnersync.web.launcher import ShuttingDown
from partnersync.web.models import RunStarted, TaskPatch, TaskState
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        prefix="/api/tasks",
        tags=["tasks"],
        dependencies=[Depends(guard), Depends(known_query_only)],
        responses=COMMON,
    )
    runnable = tuple(services.launcher.functions)

    def one(task: str) -> TaskState:
        with services.engine.connect() as connection:
            found = queries.task_states(connection, runnable, [task])
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown task {task!r}")
        return found[0]

    @api.get("", summary="Every task: schedule, state, last run, live progress")
    def list_tasks() -> list[TaskState]:
        with services.engine.connect() as connection:
            return queries.task_states(connection, runnable)

    @api.get("/{task}", summary="One task", responses=problems(_404="unknown task"))
    def get_task(task: str) -> TaskState:
        return one(task)

    @api.post(
        "/{task}/run",
        summary="Start a run now (202 with its run id)",
        status_code=status.HTTP_202_ACCEPTED,
        responses=problems(
            _404="unknown task",
            _409="the task is already running, here or in another process",
            _503="the server is shutting down",
        ),
    )
    def run_task(
        task: str,
        mode: Mode = Query("incremental", description="`full` reads everything and sweeps"),
    ) -> RunStarted:
        try:
            run = services.launcher.launch(task, mode)
        except UnknownTask:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown task {task!r}") from None
        except AlreadyRunning as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except ShuttingDown as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        return RunStarted(run_id=run.log_id, task=task, mode=mode)

    @api.patch(
        "/{task}",
        summary="Enable or disable a task, or change its interval",
        responses=problems(_404="unknown task"),
    )
    def change_task(task: str, change: TaskPatch) -> TaskState:
        with services.engine.begin() as connection:
            found = change_schedule(
                connection,
                task,
                enabled=change.enabled,
                interval_minutes=change.interval_minutes,
            )
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown task {task!r}")
        return one(task)

    return api
