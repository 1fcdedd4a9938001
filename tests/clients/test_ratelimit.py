"""Token bucket arithmetic, driven by explicit times (no sleeping)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from partnersync.clients.ratelimit import TokenBucket, shared_bucket


def test_requests_queue_at_exactly_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    waits = [bucket.reserve(now=100.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_idle_time_refills_up_to_the_burst_only() -> None:
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(0.5)
    # An hour idle refills three tokens, not 7,200.
    assert [bucket.reserve(3600.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(3600.0) == pytest.approx(0.5)


def test_a_clock_going_backwards_grants_nothing_extra() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(5.0) == pytest.approx(1.0)


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60))
def test_granted_times_never_exceed_the_budget(arrivals: list[float]) -> None:
    """In any window of length w, at most burst + rate * w requests go out."""
    rate, burst = 4.0, 2.0
    bucket = TokenBucket(rate=rate, burst=burst)
    starts = sorted(t + bucket.reserve(t) for t in sorted(arrivals))
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            window = starts[j] - first
            assert j - i + 1 <= burst + rate * window + 1e-6


def test_acquire_sleeps_for_the_reserved_wait() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=5, burst=1, clock=lambda: now[0], sleep=fake_sleep, recheck_seconds=1)

    async def three() -> None:
        for _ in range(3):
            await bucket.acquire()

    asyncio.run(three())
    assert slept == pytest.approx([0.2, 0.2])  # sequential: each waits for the next token
    assert bucket.sample() == (3, True)
    assert bucket.sample() == (0, False)


def test_waiting_callers_take_up_a_new_rate_at_their_next_look() -> None:
    """Queued behind a slow rate, callers do not sleep out the old wait when the rate rises:
    each looks up every `recheck_seconds` and queues again at the new pace."""
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)  # let the other task run, as a real sleep would

    bucket = TokenBucket(rate=0.5, burst=1, clock=lambda: now[0], sleep=fake_sleep)

    async def run() -> None:
        await bucket.acquire()  # free
        waiting = asyncio.ensure_future(bucket.acquire())  # 2 s at 0.5/s
        await asyncio.sleep(0)
        bucket.set_rate(10.0)
        await waiting

    asyncio.run(run())
    assert sum(slept) < 0.5


def test_one_bucket_per_key_and_budget_for_the_whole_process() -> None:
    key = SecretStr("k-1")
    assert shared_bucket(key, 8.0) is shared_bucket(SecretStr("k-1"), 8.0)
    assert shared_bucket(key, 8.0) is not shared_bucket(SecretStr("k-2"), 8.0)
    assert shared_bucket(key, 8.0) is not shared_bucket(key, 4.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_nonsense_budgets_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_a_process_that_was_frozen_does_not_send_its_due_requests_at_once() -> None:
    """Four requests queued at 2/s, then the clock jumps 5 s (a frozen or starved process):
    every place is due, but they still go out about 0.5 s apart (less a sleep's overshoot)."""
    now = [0.0]
    sent: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    bucket = TokenBucket(rate=2, burst=1, clock=lambda: now[0], sleep=fake_sleep)

    async def one() -> None:
        await bucket.acquire()
        sent.append(now[0])

    async def run() -> None:
        await one()  # the free token, at 0
        waiting = [asyncio.ensure_future(one()) for _ in range(4)]
        await asyncio.sleep(0)
        now[0] = 5.0  # frozen: every queued place fell due meanwhile
        await asyncio.gather(*waiting)

    asyncio.run(run())
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps[1:]) >= 0.45 - 1e-9, sent
