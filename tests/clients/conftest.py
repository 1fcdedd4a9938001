"""Sandbox fixtures for the client integration tests (real HTTP on loopback, fast retries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from partnersync.clients import ImpartnerSettings, NorthpassSettings, RetryPolicy
from partnersync.sandbox.server import RunningSandbox, running_sandbox

# Waits of a few milliseconds: the tests exercise the decisions, not the clock.
FAST_RETRIES = RetryPolicy(
    max_attempts=12,
    wait_initial_s=0.001,
    wait_max_s=0.005,
    wait_jitter_s=0.001,
    retry_after_max_s=0.01,
)
FAULTY = {"fault_429_share": 0.30, "fault_5xx_share": 0.05, "fault_seed": 7}


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A fresh tiny dataset per test (writes must not leak); no rate limit unless set."""
    with running_sandbox(size="tiny", seed=1, rate_limit_per_second=None) as sb:
        yield sb


def northpass_settings(sb: RunningSandbox, **changes: Any) -> NorthpassSettings:
    values: dict[str, Any] = {
        "base_url": sb.base_url,
        "api_key": SecretStr(sb.northpass_key),
        "rate_per_second": 2000.0,
        "timeout_s": 2.0,
        "retry": FAST_RETRIES,
    }
    return NorthpassSettings(**(values | changes))


def impartner_settings(sb: RunningSandbox, **changes: Any) -> ImpartnerSettings:
    values: dict[str, Any] = {
        "base_url": sb.base_url,
        "api_key": SecretStr(sb.impartner_key),
        "tenant_id": str(sb.tenant_id),
        "rate_per_second": 2000.0,
        "timeout_s": 2.0,
        "retry": FAST_RETRIES,
    }
    return ImpartnerSettings(**(values | changes))
