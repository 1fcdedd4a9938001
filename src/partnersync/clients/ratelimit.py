"""Token bucket that keeps one API key under its request budget, shared by the whole process."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable

from pydantic import SecretStr


class TokenBucket:
    """Reservation-style token bucket.

    Every request takes a token. When the bucket is empty the request still gets a token, dated in
    the future, and waits until then; so concurrent callers queue up fairly at exactly `rate`.
    Reservations are plain arithmetic under a thread lock, which lets one bucket serve every thread
    and event loop in the process.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1 token, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._updated: float | None = None
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Take one token at time `now`; return the seconds to wait before using it."""
        with self._lock:
            if self._updated is not None and now > self._updated:
                refill = (now - self._updated) * self.rate
                self._tokens = min(self.burst, self._tokens + refill)
            if self._updated is None or now > self._updated:
                self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        """Wait for this caller's turn under the budget."""
        wait = self.reserve(self._clock())
        if wait > 0:
            await self._sleep(wait)


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
