"""What the retry policy retries, and how it reads `Retry-After`."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from partnersync.clients.errors import ApiError
from partnersync.clients.retry import (
    MalformedResponse,
    RetryableResponse,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)

NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("Wed, 01 Jan 2025 12:00:30 GMT", 30.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),  # a date in the past: go now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # not delta-seconds per RFC 9110
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "retry"),
    [(429, True), (500, True), (503, True), (400, False), (401, False), (404, False), (422, False)],
)
def test_only_429_and_5xx_statuses_are_retryable(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_backoff_decisions() -> None:
    policy = RetryPolicy(retry_after_max_s=10)
    assert policy.backoff(RetryableResponse(503, None)) is True
    assert policy.backoff(RetryableResponse(429, 2.0)) == 2.0
    assert policy.backoff(RetryableResponse(429, 3600.0)) == 10  # capped
    assert policy.backoff(httpx.ReadTimeout("slow")) is True
    assert policy.backoff(httpx.ConnectError("refused")) is True
    assert policy.backoff(httpx.RemoteProtocolError("dropped")) is True
    assert policy.backoff(MalformedResponse("truncated")) is True
    assert policy.backoff(ApiError("GET /x", 404, "gone")) is False
    assert policy.backoff(httpx.UnsupportedProtocol("ftp")) is False
    assert policy.backoff(ValueError("a bug")) is False


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="wait_max_s"):
        RetryPolicy(wait_max_s=-1)
