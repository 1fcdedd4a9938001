"""Due-time and backoff arithmetic, as pure functions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_RETRY = timedelta(minutes=1)

CANCEL_WAIT_SECONDS = 10.0
"""After a shutdown's grace period, how long cancelled runs get to reach a checkpoint."""


def next_after_interval_change(
    last_status: str | None, last_run_at: datetime | None, interval: timedelta
) -> datetime | None:
    """After an operator changes a task's interval: one new interval after the last run (due at
    once if that is past), or None — keep the current `next_run_at` — while the task is failing
    (its retry time stands) or has never run."""
    if last_status == "success" and last_run_at is not None:
        return last_run_at + interval
    return None


def next_after_success(scheduled_for: datetime, interval: timedelta, now: datetime) -> datetime:
    """One interval after the run's scheduled time (no drift), skipping slots already past."""
    following = scheduled_for + interval
    if following > now:
        return following
    missed = (now - following) // interval + 1
    return following + missed * interval


def retry_delay(failures: int, interval: timedelta, jitter: float) -> timedelta:
    """1, 2, 4 … minutes after consecutive failures, capped at the interval.

    `jitter` in [0, 1) spreads retries of several replicas by up to a fifth of the delay.
    """
    exponent = max(failures - 1, 0)
    delay: timedelta = min(FIRST_RETRY * (2 ** min(exponent, 30)), interval)
    return delay * (1 + 0.2 * jitter)


def next_after_failure(
    failures: int, interval: timedelta, now: datetime, rng: random.Random | None = None
) -> datetime:
    return now + retry_delay(failures, interval, (rng or random).random())
