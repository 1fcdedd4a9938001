"""This process's part in an API key's shared budget.

One `KeyCoordinator` per (database, key) in a process: while any client of the process uses the
key it heartbeats (a daemon thread, every `interval`), and sets the process-wide token bucket to
the share the heartbeat returns. Clients hold a `SharedLimiter`, which joins on its first
request, so a process that only serves the dashboard never takes a share, and leaves when the
client closes. A 429 cuts the bucket at once, before the next heartbeat tells every consumer.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import Engine

from partnersync.budget import ledger
from partnersync.budget.rule import BudgetRule
from partnersync.clients.ratelimit import TokenBucket
from partnersync.clients.settings import ApiSettings
from partnersync.db.engine import describe_database_error, in_transaction

log = structlog.get_logger(__name__)

EXPIRY_BEATS = 6
"""A consumer silent for this many heartbeats is no longer counted (a dead or frozen process)."""

HEADROOM = 1.25
"""A consumer that never waited for its share is offered this much more than it used."""


def key_id(api: str, settings: ApiSettings) -> str:
    """Names the key in the database and in metrics without revealing it."""
    digest = hashlib.sha256(settings.api_key.get_secret_value().encode()).hexdigest()
    return f"{api}:{digest[:16]}"


def budget_rule(settings: ApiSettings) -> BudgetRule:
    start = settings.rate_per_second
    return BudgetRule(
        start=start,
        ceiling=max(start, settings.rate_ceiling or start),
        floor=min(start, BudgetRule.floor),
    )


class KeyCoordinator:
    """Heartbeats for one key while at least one client of this process uses it."""

    def __init__(
        self,
        engine: Engine,
        api: str,
        key: str,
        rule: BudgetRule,
        bucket: TokenBucket,
        interval: float,
    ) -> None:
        self.engine = engine
        self.api = api
        self.key = key
        self.rule = rule
        self.bucket = bucket
        self.interval = interval
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.last: ledger.Verdict | None = None
        self._lock = threading.RLock()  # join's first beat runs under it
        self._users = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._rate_limited = 0
        self._retry_after: float | None = None
        self._cut_at = float("-inf")
        self._sampled_at = time.monotonic()

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.interval * EXPIRY_BEATS)

    def join(self) -> None:
        """One more client uses the key. The process's first registers it, and when other
        processes use the key it waits one heartbeat, so they make room before it sends."""
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stop.clear()
            self._sampled_at = time.monotonic()
            verdict = self._beat()
            if verdict is not None and verdict.consumers > 1:
                self.bucket.pause(self.interval)
            self._thread = threading.Thread(
                target=self._run, name=f"budget-{self.key}", daemon=True
            )
            self._thread.start()

    def leave(self) -> None:
        """A client is done; the last one takes this process out of the key's consumers."""
        with self._lock:
            self._users -= 1
            if self._users > 0 or self._thread is None:
                return
            thread, self._thread = self._thread, None
            self._stop.set()
        thread.join()
        self._beat()  # the last requests' count
        try:
            in_transaction(self.engine, lambda c: ledger.leave(c, self.key, self.consumer))
        except Exception as exc:  # it expires by itself within a few heartbeats
            log.warning("budget_leave_failed", key=self.key, error=describe_database_error(exc))

    def throttled(self, retry_after: float | None) -> None:
        """A 429: slow down now (once per reaction time) and tell everyone at the next beat."""
        now = time.monotonic()
        with self._lock:
            self._rate_limited += 1
            if retry_after:
                self._retry_after = max(self._retry_after or 0.0, retry_after)
            cut = now - self._cut_at >= self.rule.react_seconds
            if cut:
                self._cut_at = now
        if cut:
            self.bucket.set_rate(max(self.rule.floor, self.bucket.rate * self.rule.backoff))
        if retry_after:
            self.bucket.pause(retry_after)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self) -> ledger.Verdict | None:
        """Report, then take the share; on a database error keep the current rate."""
        taken, waited = self.bucket.sample()
        now = time.monotonic()
        elapsed, self._sampled_at = max(now - self._sampled_at, 1e-3), now
        with self._lock:
            rate_limited, retry_after = self._rate_limited, self._retry_after
            self._rate_limited, self._retry_after = 0, None
        used = taken / elapsed
        beat = ledger.Beat(
            requests=taken,
            rate_limited=rate_limited,
            retry_after=retry_after,
            used=used,
            demand=None if waited else used * HEADROOM + self.rule.floor,
        )
        try:
            verdict = in_transaction(
                self.engine,
                lambda connection: ledger.heartbeat(
                    connection,
                    key_id=self.key,
                    api=self.api,
                    consumer=self.consumer,
                    rule=self.rule,
                    beat=beat,
                    ttl=self.ttl,
                ),
            )
        except Exception as exc:
            log.warning("budget_heartbeat_failed", key=self.key, error=describe_database_error(exc))
            with self._lock:
                self._rate_limited += rate_limited
            return None
        self.bucket.set_rate(verdict.share)
        if verdict.paused_for > 0:
            self.bucket.pause(verdict.paused_for)
        self.last = verdict
        return verdict


class SharedLimiter:
    """A client's limiter under the shared budget: the process's bucket for the key, joined on
    the first request and left when the client closes."""

    def __init__(self, coordinator: KeyCoordinator) -> None:
        self.coordinator = coordinator
        self._joined = False
        self._join_lock = asyncio.Lock()

    @property
    def rate(self) -> float:
        return self.coordinator.bucket.rate

    async def acquire(self) -> None:
        if not self._joined:
            async with self._join_lock:
                if not self._joined:
                    await asyncio.to_thread(self.coordinator.join)
                    self._joined = True
        await self.coordinator.bucket.acquire()

    def throttled(self, retry_after: float | None) -> None:
        self.coordinator.throttled(retry_after)

    async def release(self) -> None:
        if self._joined:
            self._joined = False
            await asyncio.to_thread(self.coordinator.leave)


_coordinators: dict[tuple[str, str, BudgetRule, float, float], KeyCoordinator] = {}
_coordinators_lock = threading.Lock()


def shared_limiter(
    engine: Engine, api: str, settings: ApiSettings, interval: float
) -> SharedLimiter:
    """A limiter for one client of `api`, under the key's budget shared through `engine`."""
    key, rule = key_id(api, settings), budget_rule(settings)
    identity = (str(engine.url), key, rule, settings.burst, interval)
    with _coordinators_lock:
        coordinator = _coordinators.get(identity)
        if coordinator is None:
            bucket = TokenBucket(settings.rate_per_second, settings.burst)
            coordinator = KeyCoordinator(engine, api, key, rule, bucket, interval)
            _coordinators[identity] = coordinator
    return SharedLimiter(coordinator)
