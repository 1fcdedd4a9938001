"""The shared budget's bookkeeping on MariaDB and SQLite: registration, expiry of dead
consumers, the division, the adaptive rise and back-off, and what the dashboard reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from partnersync.budget import ledger
from partnersync.budget.ledger import Beat
from partnersync.budget.rule import BudgetRule
from partnersync.db.schema import api_consumers

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULE = BudgetRule(start=8.0, ceiling=10.0)
TTL = timedelta(seconds=3)
KEY = "northpass:0123456789abcdef"
WANTS_ALL = Beat(demand=None)


def beat(
    engine: Engine, consumer: str, at: float, report: Beat = WANTS_ALL, rule: BudgetRule = RULE
) -> ledger.Verdict:
    with engine.begin() as connection:
        return ledger.heartbeat(
            connection,
            key_id=KEY,
            api="northpass",
            consumer=consumer,
            rule=rule,
            beat=report,
            ttl=TTL,
            now=T0 + timedelta(seconds=at),
        )


def test_the_first_consumer_registers_and_gets_the_whole_starting_budget(engine: Engine) -> None:
    verdict = beat(engine, "a", 0)
    assert (verdict.share, verdict.budget, verdict.consumers) == (8.0, 8.0, 1)
    with engine.connect() as connection:
        row = connection.execute(select(api_consumers)).one()
    assert (row.key_id, row.consumer, row.share) == (KEY, "a", 8.0)
    assert row.expires_at == T0 + TTL


def test_active_consumers_divide_the_budget(engine: Engine) -> None:
    beat(engine, "a", 0)
    assert beat(engine, "b", 0).share == ledger.MIN_SHARE  # a still holds all 8
    assert beat(engine, "a", 0).share == 4.0
    assert beat(engine, "b", 0).share == 4.0
    assert beat(engine, "c", 0).share == ledger.MIN_SHARE
    assert beat(engine, "a", 0).share == 3.0
    assert beat(engine, "b", 0).share == 3.0
    assert beat(engine, "c", 0).share == 2.0  # whole shares: 3, 3 and 2


def test_the_shares_held_never_add_up_to_more_than_the_budget(engine: Engine) -> None:
    """Each consumer takes a new share at its own heartbeat. One whose fair share grew waits
    for room, so however the beats interleave, what the consumers hold fits the budget."""
    order = ["a", "b", "a", "c", "c", "b", "a", "b", "c", "a", "a", "c", "b", "b", "c", "a"]
    for at, consumer in enumerate(order):
        beat(engine, consumer, at / 100, Beat(demand=None if at % 3 else 1.0))
        with engine.connect() as connection:
            held = sum(connection.scalars(select(api_consumers.c.share)))
            [key] = ledger.usage(connection, now=T0 + timedelta(seconds=at / 100))
        waiting = ledger.MIN_SHARE * key.consumers  # those without room yet hold next to nothing
        assert held <= key.budget + waiting + 1e-9, (at, held, key.budget)
    assert beat(engine, "a", 0.2).share + beat(engine, "b", 0.2).share > 4  # it converges


def test_a_consumer_that_stops_heartbeating_drops_out_after_its_expiry(engine: Engine) -> None:
    beat(engine, "a", 0)
    beat(engine, "dead", 0)
    at_expiry = beat(engine, "a", 2.9, rule=BudgetRule(start=8.0, ceiling=8.0))
    assert (at_expiry.share, at_expiry.consumers) == (4.0, 2)
    after = beat(engine, "a", 3.1, rule=BudgetRule(start=8.0, ceiling=8.0))
    assert (after.share, after.consumers) == (8.0, 1)


def test_a_consumer_that_leaves_frees_its_share_at_once(engine: Engine) -> None:
    beat(engine, "a", 0)
    beat(engine, "b", 0)
    with engine.begin() as connection:
        ledger.leave(connection, KEY, "b")
    assert beat(engine, "a", 0.1, rule=BudgetRule(start=8.0, ceiling=8.0)).share == 8.0


def test_a_light_consumer_leaves_the_rest_to_a_busy_one(engine: Engine) -> None:
    beat(engine, "light", 0, Beat(demand=1.5, used=1.0))
    beat(engine, "busy", 0)
    assert beat(engine, "light", 0, Beat(demand=1.5, used=1.0)).share == 1.0
    assert beat(engine, "busy", 0).share == 7.0  # 6.5, and the spare whole request


def test_the_budget_rises_while_nothing_is_refused_once_for_all_consumers(engine: Engine) -> None:
    beat(engine, "a", 0)
    beat(engine, "b", 1)  # 8.5: the rise since 0 is applied once
    verdict = beat(engine, "a", 2)  # 9.0, not 9.5: b's beat already took the first second
    assert verdict.budget == pytest.approx(9.0)
    assert beat(engine, "a", 30).budget == 10.0  # the vendor's limit is the ceiling


def test_a_429_backs_the_budget_off_for_everyone_and_holds_the_rise(engine: Engine) -> None:
    beat(engine, "a", 0)
    beat(engine, "b", 0)
    refused = beat(engine, "a", 1, Beat(requests=10, rate_limited=2))
    assert refused.budget == pytest.approx(8.0 * RULE.backoff)
    echo = beat(engine, "b", 1.5, Beat(requests=5, rate_limited=1))  # within the reaction time
    assert echo.budget == pytest.approx(8.0 * RULE.backoff)
    assert echo.share == 2.0  # half of 4.8, in whole requests
    assert beat(engine, "a", 2.5).budget == pytest.approx(8.0 * RULE.backoff)  # hold
    assert beat(engine, "a", 5).budget == pytest.approx(8.0 * RULE.backoff + 1.0)


def test_a_retry_after_pauses_every_consumer_of_the_key(engine: Engine) -> None:
    beat(engine, "a", 0)
    paused = beat(engine, "a", 1, Beat(rate_limited=1, retry_after=4.0))
    assert paused.paused_for == pytest.approx(4.0)
    assert beat(engine, "b", 2).paused_for == pytest.approx(3.0)
    assert beat(engine, "b", 6).paused_for == 0.0


def test_a_key_nobody_used_for_a_minute_starts_again_from_the_configured_rate(
    engine: Engine,
) -> None:
    beat(engine, "a", 0)
    assert beat(engine, "a", 30).budget == 10.0
    assert beat(engine, "b", 30 + 61).budget == 8.0


def test_a_changed_ceiling_applies_at_the_next_beat(engine: Engine) -> None:
    beat(engine, "a", 0)
    assert beat(engine, "a", 30).budget == 10.0
    assert beat(engine, "a", 31, rule=BudgetRule(start=5.0, ceiling=5.0)).budget == 5.0


def test_usage_shows_each_key_with_its_consumers_rate_and_refusals(engine: Engine) -> None:
    beat(engine, "a", 0, Beat(requests=40, used=4.0, rate_limited=1))
    beat(engine, "b", 0.5, Beat(requests=30, used=3.0))
    with engine.connect() as connection:
        [key] = ledger.usage(connection, now=T0 + timedelta(seconds=1))
        assert (key.key_id, key.api, key.consumers) == (KEY, "northpass", 2)
        assert key.requests_per_second == pytest.approx(7.0)
        assert (key.requests, key.rate_limited) == (70, 1)
        [later] = ledger.usage(connection, now=T0 + timedelta(seconds=10))
    assert (later.consumers, later.requests_per_second) == (0, 0.0)


def test_long_expired_consumers_are_forgotten(engine: Engine) -> None:
    beat(engine, "gone", 0)
    beat(engine, "a", 11 * 60)
    with engine.connect() as connection:
        assert connection.scalars(select(api_consumers.c.consumer)).all() == ["a"]
