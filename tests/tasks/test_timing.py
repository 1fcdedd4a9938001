from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from partnersync.tasks.timing import next_after_interval_change, next_after_success, retry_delay

T0 = datetime(2026, 1, 1, tzinfo=UTC)
intervals = st.integers(1, 24 * 60).map(lambda minutes: timedelta(minutes=minutes))
offsets = st.integers(0, 10 * 24 * 3600).map(lambda seconds: timedelta(seconds=seconds))


def test_on_time_run_is_due_one_interval_after_its_slot_not_after_it_finished() -> None:
    interval = timedelta(hours=2)
    finished = T0 + timedelta(minutes=17)
    assert next_after_success(T0, interval, finished) == T0 + interval


def test_after_downtime_the_missed_slots_are_skipped_not_replayed() -> None:
    interval = timedelta(hours=2)
    now = T0 + timedelta(hours=9, minutes=5)
    assert next_after_success(T0, interval, now) == T0 + timedelta(hours=10)


@given(interval=intervals, late=offsets)
def test_next_slot_is_in_the_future_on_the_grid_and_within_one_interval(
    interval: timedelta, late: timedelta
) -> None:
    now = T0 + late
    following = next_after_success(T0, interval, now)
    assert now < following <= now + interval
    assert (following - T0) % interval == timedelta(0)


def test_backoff_doubles_from_one_minute_and_is_capped_at_the_interval() -> None:
    interval = timedelta(minutes=30)
    delays = [retry_delay(failures, interval, jitter=0) for failures in range(1, 8)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30)]


@given(failures=st.integers(1, 200), interval=intervals, jitter=st.floats(0, 0.999))
def test_backoff_never_exceeds_the_interval_plus_a_fifth(
    failures: int, interval: timedelta, jitter: float
) -> None:
    delay = retry_delay(failures, interval, jitter)
    assert timedelta(0) < delay <= interval * 1.2


def test_an_interval_change_moves_the_next_run_only_after_a_success() -> None:
    hour = timedelta(hours=1)
    assert next_after_interval_change("success", T0, hour) == T0 + hour
    assert next_after_interval_change("failed", T0, hour) is None  # its retry time stands
    assert next_after_interval_change("success", None, hour) is None
    assert next_after_interval_change(None, None, hour) is None


def test_a_run_finishing_exactly_at_its_next_slot_runs_again_one_interval_later() -> None:
    interval = timedelta(hours=1)
    assert next_after_success(T0, interval, T0 + interval) == T0 + 2 * interval


def test_a_run_finishing_before_its_slot_by_another_clock_keeps_the_next_slot() -> None:
    """A replica's clock a minute behind the one that scheduled the run."""
    interval = timedelta(hours=1)
    assert next_after_success(T0, interval, T0 - timedelta(minutes=1)) == T0 + interval
