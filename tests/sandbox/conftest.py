"""Fixtures: a fresh `tiny` sandbox per test (fast to generate), and clients for both APIs."""

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from partnersync.sandbox.generator import generate
from partnersync.sandbox.server import RunningSandbox, running_sandbox

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the dataset, so timestamps written by the sandbox are predictable."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sb(clock: Clock) -> Iterator[RunningSandbox]:
    with running_sandbox(dataset=generate("tiny", 1, clock), rate_limit_per_second=None) as box:
        yield box


@pytest.fixture
def np(sb: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"X-Api-Key": sb.northpass_key, "Accept": "application/json"}
    with httpx.Client(base_url=sb.base_url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def imp(sb: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"prm-key {sb.impartner_key}", "X-PRM-TenantId": str(sb.tenant_id)}
    with httpx.Client(base_url=sb.base_url, headers=headers, timeout=5) as client:
        yield client
