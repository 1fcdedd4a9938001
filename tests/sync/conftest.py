"""A running sandbox and settings that point at it, shared by the sync tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.sandbox.server import RunningSandbox, running_sandbox
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import PULL_ORDER
from partnersync.tasks.runner import RunOutcome, run_task
from partnersync.types import Mode


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A fresh `tiny` sandbox per test, without its rate limit (tests are not about budgets)."""
    with running_sandbox(size="tiny", seed=7, rate_limit_per_second=None) as sb:
        yield sb


def settings_for(sb: RunningSandbox, **extra: Any) -> Settings:
    """Settings for the sandbox; `extra` takes environment-variable names as keys."""
    values = {
        "NORTHPASS_BASE_URL": sb.base_url,
        "NORTHPASS_API_KEY": sb.northpass_key,
        "NORTHPASS_RATE_PER_SECOND": 1000,
        "IMPARTNER_BASE_URL": sb.base_url,
        "IMPARTNER_API_KEY": sb.impartner_key,
        "IMPARTNER_TENANT_ID": sb.tenant_id,
        "IMPARTNER_RATE_PER_SECOND": 1000,
        "PARTNERSYNC_HTTP_MAX_ATTEMPTS": 3,
        **extra,
    }
    return Settings(**values)


def run(
    engine: Engine, sb: RunningSandbox, task: str, mode: Mode = "incremental", **extra: Any
) -> RunOutcome:
    """Run `task` through the runner against the sandbox."""
    return run_task(engine, settings_for(sb, **extra), task, TASK_FUNCTIONS[task], mode=mode)


def pull_everything(engine: Engine, sb: RunningSandbox, mode: Mode = "full") -> None:
    """Fill the database from the sandbox with the real pull tasks, as `sync all` would."""
    for task in PULL_ORDER:
        outcome = run(engine, sb, task, mode)
        assert outcome.status == "success", (task, outcome.error)
