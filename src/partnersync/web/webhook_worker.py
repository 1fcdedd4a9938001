"""The webhook worker of `partnersync serve`: runs `webhook_events` soon after events arrive.

The receiver wakes it; it waits `PARTNERSYNC_WEBHOOK_DEBOUNCE_SECONDS` for more events, so a
burst of completions makes one run (and one push per partner), then runs the task through the
runner. It also looks every `poll_seconds` on its own, for events a restart left pending or a
run refused because `sync_enrollments` or `sync_to_impartner` held the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from sqlalchemy import Engine, select

from partnersync.config import Settings
from partnersync.db.schema import webhook_events
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import WEBHOOK_EVENTS
from partnersync.tasks.runner import AlreadyRunning, run_task
from partnersync.tasks.webhook_events import process_webhook_events

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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._woken.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.shutdown_grace_seconds + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._woken.wait(timeout=self.poll_seconds)
            if self._stop.wait(self.settings.webhook_debounce_seconds):
                return
            self._woken.clear()
            try:
                self.run_pending()
            except Exception:  # the worker outlives any one batch; the runner recorded it
                log.exception("webhook batch ended without an outcome")

    def run_pending(self) -> RunOutcome | None:
        """One `webhook_events` run if events wait; None when none do or the data is busy."""
        if not has_pending(self.engine):
            return None
        try:
            outcome = run_task(
                self.engine,
                self.settings,
                WEBHOOK_EVENTS.name,
                process_webhook_events,
                trigger="api",
                owner=self.owner,
                cancel=self._stop,
            )
        except AlreadyRunning as exc:  # the events wait; the next look takes them
            log.info("webhook events wait for a running task", reason=str(exc))
            return None
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome
