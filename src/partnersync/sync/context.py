"""Everything a stream needs during one run, built once by the runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from partnersync.budget.coordinator import shared_limiter
from partnersync.clients import ImpartnerClient, NorthpassClient
from partnersync.clients.ratelimit import Limiter
from partnersync.clients.settings import ApiSettings
from partnersync.config import Settings, impartner_settings, northpass_settings
from partnersync.sync import state
from partnersync.sync.report import RunReport
from partnersync.types import Mode

Progress = Callable[[str, int, int | None], None]
"""`progress(stage, done, total)`: total is None while unknown."""


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def _no_checkpoint() -> None:
    return None


def _no_fence(connection: Connection) -> None:
    return None


@dataclass
class SyncContext:
    """One run's settings, database, clients, clock and report.

    Clients are opened on first use so a task that talks to one API does not need the
    other's key. Every write goes through `write()`, whose transaction starts with the
    run's lease fence: once another process took the task over, the next write raises
    `LeaseLost` and nothing of it is stored. `checkpoint()` is called between pages; it
    raises as soon as the heartbeat saw the lease go, without waiting for a write.
    """

    engine: Engine
    settings: Settings
    mode: Mode
    started_at: datetime
    log_id: int | None = None
    """The run's `sync_logs` id (None for a dry run, which records nothing)."""
    report: RunReport = field(default_factory=RunReport)
    progress: Progress = _no_progress
    checkpoint: Callable[[], None] = _no_checkpoint
    fence: Callable[[Connection], None] = _no_fence
    """Raises `LeaseLost` unless the run still holds its lease; locks the task row."""
    dry_run: bool = False
    """Compute and describe vendor writes in `planned` without making them or recording them."""
    planned: list[dict[str, Any]] = field(default_factory=list)
    make_northpass: Callable[[Settings], NorthpassClient] | None = None
    """How the run's Northpass client is made (a test or a tool may hand in its own; by
    default it takes its requests from the key's budget shared through the database)."""
    make_impartner: Callable[[Settings], ImpartnerClient] | None = None
    _northpass: NorthpassClient | None = None
    _impartner: ImpartnerClient | None = None

    @property
    def full(self) -> bool:
        return self.mode == "full"

    @property
    def max_delete_share(self) -> float | None:
        """The deletion guard for every path that deletes (None: lifted for this run)."""
        return None if self.settings.allow_mass_delete else self.settings.sweep_max_share

    @property
    def northpass(self) -> NorthpassClient:
        if self._northpass is None:
            if self.make_northpass is not None:
                self._northpass = self.make_northpass(self.settings)
            else:
                client_settings = northpass_settings(self.settings)
                limiter = self._limiter("northpass", client_settings)
                self._northpass = NorthpassClient(client_settings, limiter=limiter)
        return self._northpass

    @property
    def impartner(self) -> ImpartnerClient:
        if self._impartner is None:
            if self.make_impartner is not None:
                self._impartner = self.make_impartner(self.settings)
            else:
                client_settings = impartner_settings(self.settings)
                limiter = self._limiter("impartner", client_settings)
                self._impartner = ImpartnerClient(client_settings, limiter=limiter)
        return self._impartner

    def _limiter(self, api: str, client_settings: ApiSettings) -> Limiter | None:
        """The key's shared budget (None: the process's own bucket, PARTNERSYNC_SHARED_BUDGET)."""
        if not self.settings.shared_budget:
            return None
        interval = self.settings.budget_heartbeat_seconds
        return shared_limiter(self.engine, api, client_settings, interval)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction of this run's writes, fenced by its lease (see the class docstring).

        A dry run rolls it back: what it computed is seen inside, nothing is kept.
        """
        with self.engine.connect() as connection, connection.begin() as transaction:
            self.fence(connection)
            yield connection
            if self.dry_run:
                transaction.rollback()

    def confirm_lease(self) -> None:
        """Check the lease in the database now: called right before every vendor write, which
        no transaction can fence (a resumed process's heartbeat may not have noticed yet)."""
        with self.write():
            pass

    def in_thread(self, function: Callable[..., None], *args: Any) -> asyncio.Future[None]:
        """Run blocking database work in a thread, so requests go on while it writes.

        The returned future must be awaited before the next write of the same stream.
        """
        return asyncio.ensure_future(asyncio.to_thread(function, *args))

    async def aclose(self) -> None:
        for client in (self._northpass, self._impartner):
            if client is not None:
                await client.aclose()

    def collect_api_stats(self) -> None:
        for name, client in (("northpass", self._northpass), ("impartner", self._impartner)):
            if client is not None:
                self.report.api_requests[name] = client.stats.as_dict()

    @property
    def watermarks(self) -> state.Watermarks:
        return state.Watermarks(
            self.engine,
            self.write,
            full=self.full,
            overlap=timedelta(seconds=self.settings.watermark_overlap_seconds),
            run_started=self.started_at,
        )

    def details(self) -> dict[str, Any]:
        self.collect_api_stats()
        return self.report.as_dict()
