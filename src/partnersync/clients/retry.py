"""The one retry policy for both APIs: what is retryable, how long to wait, `Retry-After`."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import stamina


class RetryableResponse(Exception):
    """A 429 or 5xx answer; raised inside an attempt so the policy can retry it."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class MalformedResponse(Exception):
    """A success status whose body is not the JSON shape the API promises (often truncated)."""


# Transport failures worth another try. Deliberately not httpx.TransportError as a whole: a bad
# URL or an unsupported protocol will not heal by waiting.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def is_retryable(exc: BaseException) -> bool:
    """429/5xx answers, timeouts, connection errors and undecodable bodies; nothing else."""
    return isinstance(exc, (RetryableResponse, MalformedResponse, *RETRYABLE_TRANSPORT_ERRORS))


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait per a `Retry-After` header (seconds or HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter (via stamina), bounded by attempts; waits are injectable.

    `max_attempts` counts the first try. A server's `Retry-After` replaces the computed backoff,
    capped at `retry_after_max_s` so one odd header cannot stall a run for hours.
    """

    max_attempts: int = 6
    wait_initial_s: float = 0.5
    wait_max_s: float = 30.0
    wait_jitter_s: float = 0.5
    retry_after_max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("wait_initial_s", "wait_max_s", "wait_jitter_s", "retry_after_max_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0")

    def backoff(self, exc: Exception) -> bool | float:
        """stamina hook: False = give up now, True = computed backoff, float = wait exactly that."""
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_max_s)
        return is_retryable(exc)

    def attempts(self) -> AsyncIterator[stamina.Attempt]:
        """A fresh stamina attempt iterator for one request."""
        return stamina.retry_context(
            on=self.backoff,
            attempts=self.max_attempts,
            timeout=None,
            wait_initial=self.wait_initial_s,
            wait_max=self.wait_max_s,
            wait_jitter=self.wait_jitter_s,
        ).__aiter__()


def describe_failure(exc: BaseException) -> str:
    """Short, key-free description of why an attempt failed."""
    if isinstance(exc, RetryableResponse | MalformedResponse):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
