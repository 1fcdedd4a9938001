"""Runs asked for over HTTP: claimed at once, executed in a bounded pool of worker threads.

The claim (lease + `running` log row) happens in the request, so a refusal (409) is
immediate and the run id returned is real; the run itself goes through the same runner as
every other run. The pool has one thread per task: a task's lease lets it run once at a
time, so a claimed run never waits in a queue while its lease ages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

import structlog
from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.db.types import utcnow
from partnersync.tasks import leases
from partnersync.tasks.history import INTERRUPTED
from partnersync.tasks.outcome import RunOutcome, fail_run
from partnersync.tasks.runner import (
    StartedRun,
    TaskFunction,
    UnknownTask,
    execute_run,
    start_run,
)
from partnersync.tasks.timing import CANCEL_WAIT_SECONDS
from partnersync.types import Mode

log = structlog.get_logger(__name__)


class ShuttingDown(RuntimeError):
    """The process is stopping and starts no more runs."""


class RunLauncher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        functions: Mapping[str, TaskFunction],
        *,
        owner: str | None = None,
        on_outcome: Callable[[RunOutcome], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.functions = dict(functions)
        self.owner = owner or leases.default_owner()
        self.on_outcome = on_outcome
        self._pool = ThreadPoolExecutor(
            max_workers=max(len(self.functions), 1), thread_name_prefix="api-run"
        )
        self._runs: dict[Future[None], str] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._closed = False

    def launch(self, task: str, mode: Mode, function: TaskFunction | None = None) -> StartedRun:
        """Claim `task` and start it (`function`, or the task's own); raises `UnknownTask`,
        `AlreadyRunning` or `ShuttingDown`."""
        function = function or self.functions.get(task)
        if function is None:
            raise UnknownTask(task)
        with self._lock:
            if self._closed:
                raise ShuttingDown("the server is shutting down; no new runs")
            run = start_run(
                self.engine, self.settings, task, mode=mode, trigger="api", owner=self.owner
            )
            future = self._pool.submit(self._execute, run, function)
            self._runs[future] = task
        future.add_done_callback(self._forget)
        log.info("run started over HTTP", task=task, mode=mode, log_id=run.log_id)
        return run

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._runs.pop(future, None)

    def _execute(self, run: StartedRun, function: TaskFunction) -> None:
        try:
            outcome = execute_run(self.engine, self.settings, run, function, cancel=self._cancel)
        except Exception:  # recorded by the runner where it could be; never kill the worker
            log.exception("run ended without an outcome", task=run.lease.task)
            return
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._runs.values())

    def shutdown(
        self, grace: float | None = None, cancel_wait: float = CANCEL_WAIT_SECONDS
    ) -> None:
        """Start nothing more, let runs finish for `grace` seconds, then cancel them.

        A run that reaches no checkpoint within `cancel_wait` is recorded failed here under
        its lease, as the scheduler does with its own.
        """
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        with self._lock:
            self._closed = True
            runs = dict(self._runs)
        _, pending = wait(runs, timeout=grace)
        if pending:
            log.warning(
                "API runs still going are cancelled", tasks=sorted(runs[f] for f in pending)
            )
            self._cancel.set()
            _, pending = wait(pending, timeout=cancel_wait)
        for future in pending:
            with self.engine.begin() as connection:
                fail_run(connection, runs[future], self.owner, utcnow(), INTERRUPTED)
        self._pool.shutdown(wait=False, cancel_futures=True)
