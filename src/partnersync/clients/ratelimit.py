"""Token bucket that keeps one API key under its request budget, shared by the whole process."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import SecretStr


class Limiter(Protocol):
    """What a session needs of its rate limit: a turn per request, word of each 429, and an
    end (a shared budget's consumer leaves then)."""

    @property
    def rate(self) -> float: ...

    async def acquire(self) -> None: ...

    def throttled(self, retry_after: float | None) -> None: ...

    async def release(self) -> None: ...


class TokenBucket:
    """Reservation-style token bucket.

    Every request takes a token. When the bucket is empty the request still gets a token, owed
    from tokens not yet earned, and waits until they are; so concurrent callers queue up fairly
    at exactly `rate`. Reservations are plain arithmetic under a thread lock, which lets one
    bucket serve every thread and event loop in the process. The rate can change while callers
    wait (the shared budget sets it, `partnersync.budget`), and `pause` holds every request back
    (a `Retry-After`): a waiting caller holds a place in the queue, counted in tokens, and looks
    up every `recheck_seconds` how long that place is at the pace of the moment.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        recheck_seconds: float = 0.25,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1 token, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._recheck = recheck_seconds
        self._tokens = burst
        self._earned = 0.0  # every token earned: a queued caller waits for it to reach its place
        self._spaced_until = float("-inf")  # no request before this, however late the queue is
        self._updated: float | None = None
        self._paused_until = float("-inf")
        self._lock = threading.Lock()
        self._granted = 0
        self._waited = False

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            earned_from = max(self._updated, min(now, self._paused_until))  # none while paused
            earned = (now - earned_from) * self.rate
            self._earned += earned
            self._tokens = min(self.burst, self._tokens + earned)
        if self._updated is None or now > self._updated:
            self._updated = now

    def _take(self, now: float) -> float | None:
        """Take a token; None if it can be used now, else the place in the queue to wait for."""
        with self._lock:
            self._refill(now)
            self._tokens -= 1.0
            if self._tokens >= 0 and now >= self._paused_until:
                return None
            return self._earned + max(0.0, -self._tokens)

    def _wait_for(self, place: float, now: float) -> float:
        with self._lock:
            self._refill(now)
            owed = max(0.0, place - self._earned) / self.rate
            return owed + max(0.0, self._paused_until - now)

    def reserve(self, now: float) -> float:
        """Take one token at time `now`; return the seconds to wait before using it (at the
        current rate)."""
        place = self._take(now)
        return 0.0 if place is None else self._wait_for(place, now)

    def set_rate(self, rate: float, now: float | None = None) -> None:
        """From now on, `rate` requests/s (tokens already earned are kept)."""
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        with self._lock:
            now = self._clock() if now is None else now
            self._refill(now)
            if self._spaced_until > now:  # the gap to the next request, at the new pace
                self._spaced_until = now + (self._spaced_until - now) * self.rate / rate
            self.rate = rate

    def pause(self, seconds: float, now: float | None = None) -> None:
        """No token is handed out for `seconds` from now (a `Retry-After`)."""
        with self._lock:
            now = self._clock() if now is None else now
            self._refill(now)
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = min(self._tokens, 0.0)

    def sample(self) -> tuple[int, bool]:
        """Requests let through since the last sample, and whether any had to wait (or waits
        now): whether this bucket, not the callers, set the pace."""
        with self._lock:
            granted, saturated = self._granted, self._waited or self._tokens < 0
            self._granted, self._waited = 0, False
            return granted, saturated

    def _space(self, now: float) -> float:
        """Let one request through now (0) or say how long until one may go.

        Places fall due by the clock, so a process that was frozen or starved of CPU finds
        several due at once; sent together they would exceed the rate in that second. Grants
        are therefore also spaced (at most `burst` at once, then one per 1/rate).
        """
        with self._lock:
            wait = self._spaced_until - (self.burst - 1) / self.rate - now
            if wait > 1e-9:
                return wait
            late = 0.1 / self.rate  # a sleep's overshoot shifts nothing: no drift below rate
            self._spaced_until = max(self._spaced_until, now - late) + 1 / self.rate
            self._granted += 1
            return 0.0

    async def acquire(self) -> None:
        """Wait for this caller's turn under the budget."""
        place = self._take(self._clock())
        if place is not None:
            self._waited = True
            while (wait := self._wait_for(place, self._clock())) > 1e-9:
                await self._sleep(min(wait, self._recheck))
        while (wait := self._space(self._clock())) > 0:
            await self._sleep(min(wait, self._recheck))

    def throttled(self, retry_after: float | None) -> None:
        """A 429: with `Retry-After`, every request of the process waits that long."""
        if retry_after:
            self.pause(retry_after)

    async def release(self) -> None:
        return None


_shared: dict[tuple[str, float, float], TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_bucket(api_key: SecretStr, rate: float, burst: float = 1.0) -> TokenBucket:
    """The process-wide bucket for this key and budget (keyed by a hash, never the key itself)."""
    fingerprint = hashlib.sha256(api_key.get_secret_value().encode()).hexdigest()
    with _shared_lock:
        bucket = _shared.get((fingerprint, rate, burst))
        if bucket is None:
            bucket = _shared[(fingerprint, rate, burst)] = TokenBucket(rate, burst)
        return bucket
