"""The webhook worker of `partnersync serve`: runs `webhook_events` soon after events arrive,
and `webhook_replay` every `PARTNERSYNC_WEBHOOK_REPLAY_MINUTES` (and at start, so a restart
catches up at once).

The receiver wakes it; it waits until `PARTNERSYNC_WEBHOOK_DEBOUNCE_SECONDS` have passed since
the first event not yet taken, so a burst of completions makes one run (and one push for its
partners), then runs the task through the runner. It also looks every `poll_seconds` on its
own, for events a replay brought or a run refused because `sync_enrollments` or
`sync_to_impartner` held the data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from sqlalchemy import Engine, select

from partnersync.config import Settings
from partnersync.db.schema import webhook_events
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import WEBHOOK_EVENTS, WEBHOOK_REPLAY
from partnersync.tasks.runner import AlreadyRunning, TaskFunction, run_task
from partnersync.tasks.webhook_events import process_webhook_events
from partnersync.tasks.webhook_replay import replay_webhooks

log = structlog.get_logger(__name__)


def has_pending(engine: Engine) -> bool:
    with engine.connect() as connection:
        found = connection.scalar(
            select(webhook_events.c.id).where(webhook_events.c.processed_at.is_(None)).limit(1)
        )
    return found is not None


class WebhookWorker:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        owner: str | None = None,
        poll_seconds: float = 30.0,
        on_outcome: Callable[[RunOutcome], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner
        self.poll_seconds = poll_seconds
        self.on_outcome = on_outcome
        self._woken = threading.Event()
        self._lock = threading.Lock()
        self._first_event: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        with self._lock:
            if self._first_event is None:
                self._first_event = time.monotonic()
        self._woken.set()

    def _debounce(self) -> None:
        """Wait until the debounce has passed since the first event not yet taken: events
        that came during the previous run have waited already."""
        with self._lock:
            first, self._first_event = self._first_event, None
        if first is not None:
            self._stop.wait(first + self.settings.webhook_debounce_seconds - time.monotonic())

    def shutdown(self) -> None:
        self._stop.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.shutdown_grace_seconds + 5)

    def _loop(self) -> None:
        replay_due = time.monotonic()
        while not self._stop.is_set():
            wait = min(self.poll_seconds, replay_due - time.monotonic())
            if self._woken.wait(timeout=max(wait, 0)):
                self._woken.clear()
                self._debounce()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= replay_due:
                    replay_due = time.monotonic() + self.settings.webhook_replay_minutes * 60
                    self.replay()
                self.run_pending()
            except Exception:  # the worker outlives any one batch; the runner recorded it
                log.exception("webhook run ended without an outcome")

    def replay(self) -> RunOutcome | None:
        """One `webhook_replay` run; None when another process is replaying."""
        return self._run(WEBHOOK_REPLAY.name, replay_webhooks)

    def run_pending(self) -> RunOutcome | None:
        """One `webhook_events` run if events wait; None when none do or the data is busy."""
        if not has_pending(self.engine):
            return None
        return self._run(WEBHOOK_EVENTS.name, process_webhook_events)

    def _run(self, task: str, function: TaskFunction) -> RunOutcome | None:
        try:
            outcome = run_task(
                self.engine,
                self.settings,
                task,
                function,
                trigger="api",
                owner=self.owner,
                cancel=self._stop,
            )
        except AlreadyRunning as exc:  # the events wait; the next look takes them
            log.info("webhook run waits for a running task", task=task, reason=str(exc))
            return None
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome
