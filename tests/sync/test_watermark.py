"""The watermark rules as pure functions: where a read starts, how far a run may move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from partnersync.sync.watermark import advance, latest, read_from

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
times = st.integers(min_value=-10_000, max_value=10_000).map(lambda s: T0 + timedelta(seconds=s))


def test_a_read_starts_the_overlap_before_the_watermark_or_from_the_beginning() -> None:
    assert read_from(T0, timedelta(seconds=300)) == T0 - timedelta(seconds=300)
    assert read_from(None, timedelta(seconds=300)) is None


@given(st.lists(st.one_of(st.none(), times)))
def test_latest_is_the_running_maximum_in_any_order(values: list[datetime | None]) -> None:
    running: datetime | None = None
    for value in values:
        running = latest(running, value)
    present = [v for v in values if v is not None]
    assert running == (max(present) if present else None)


@given(st.one_of(st.none(), times), st.one_of(st.none(), times), times)
def test_advance_never_passes_the_run_start_and_never_goes_back(
    previous: datetime | None, max_seen: datetime | None, started: datetime
) -> None:
    moved = advance(previous, max_seen, started)
    if max_seen is None:
        assert moved == previous
        return
    assert moved is not None
    expected = min(max_seen, started)
    assert moved == (max(previous, expected) if previous is not None else expected)
