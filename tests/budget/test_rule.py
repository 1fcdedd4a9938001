"""The budget's arithmetic: how it rises and backs off, and how it is divided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partnersync.budget.rule import BudgetRule, allot

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULE = BudgetRule(start=8.0, ceiling=10.0)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def test_the_budget_rises_by_its_pace_for_each_quiet_second_up_to_the_ceiling() -> None:
    assert RULE.rise(8.0, T0, seconds(2), None) == pytest.approx(9.0)
    assert RULE.rise(8.0, T0, seconds(60), None) == 10.0
    assert RULE.rise(8.0, T0, T0, None) == 8.0
    assert RULE.rise(8.0, seconds(1), T0, None) == 8.0  # a clock going back raises nothing


def test_no_rise_within_the_hold_after_a_back_off() -> None:
    throttled = seconds(10)
    assert RULE.rise(5.0, seconds(10), seconds(11.5), throttled) == 5.0
    assert RULE.rise(5.0, seconds(10), seconds(14), throttled) == pytest.approx(6.0)


def test_a_429_multiplies_the_budget_once_per_reaction_time_and_never_below_the_floor() -> None:
    assert RULE.throttle(10.0, T0, None) == pytest.approx(6.0)
    assert RULE.throttle(6.0, seconds(0.5), T0) == 6.0  # the same congestion's echo
    assert RULE.throttle(6.0, seconds(1), T0) == pytest.approx(3.6)
    assert RULE.throttle(0.6, seconds(5), T0) == RULE.floor


@pytest.mark.parametrize(
    "values",
    [
        {"start": 0, "ceiling": 1},
        {"start": 5, "ceiling": 4},
        {"start": 5, "ceiling": 10, "floor": 6},
        {"start": 5, "ceiling": 10, "backoff": 1},
        {"start": 5, "ceiling": 10, "backoff": 0},
    ],
)
def test_an_impossible_rule_is_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BudgetRule(**values)


def test_consumers_that_want_all_they_can_get_share_equally() -> None:
    assert allot(9.0, {"a": None, "b": None, "c": None}) == pytest.approx(
        {"a": 3.0, "b": 3.0, "c": 3.0}
    )
    assert allot(10.0, {"alone": None}) == {"alone": 10.0}
    assert allot(10.0, {}) == {}


def test_a_consumer_needing_less_leaves_the_rest_to_the_others() -> None:
    assert allot(10.0, {"light": 2.0, "heavy": None}) == pytest.approx({"light": 2.0, "heavy": 8.0})
    shares = allot(10.0, {"light": 2.0, "medium": 3.0, "heavy": None})
    assert shares == pytest.approx({"light": 2.0, "medium": 3.0, "heavy": 5.0})


def test_what_nobody_wants_is_spread_over_everyone() -> None:
    assert allot(10.0, {"a": 1.0, "b": 3.0}) == pytest.approx({"a": 4.0, "b": 6.0})


demands = st.dictionaries(
    st.text(min_size=1, max_size=4),
    st.none() | st.floats(min_value=0, max_value=50),
    max_size=8,
)


@given(st.floats(min_value=0.1, max_value=100), demands)
def test_shares_add_up_to_the_budget_and_are_max_min_fair(
    budget: float, wanted: dict[str, float | None]
) -> None:
    shares = allot(budget, wanted)
    assert set(shares) == set(wanted)
    assert sum(shares.values()) <= budget + 1e-9
    whole = len(shares) > 1 and all(share == int(share) for share in shares.values())
    if wanted:
        assert sum(shares.values()) >= (budget - 1 if whole else budget - 1e-9)
    assert all(share >= 0 for share in shares.values())
    equal = budget / len(wanted) if wanted else 0.0
    for name, demand in wanted.items():
        # everyone gets what it asked for, or an equal share (less a rounding when whole)
        fair = min(demand if demand is not None else equal, equal)
        assert shares[name] >= fair - (1 if whole else 1e-9)


def test_several_consumers_get_whole_shares_so_no_second_holds_more_than_the_budget() -> None:
    """Three buckets of 3.33/s can each let 4 through in one second: 12 on a key allowed 10."""
    assert allot(10.0, {"a": None, "b": None, "c": None}) == {"a": 4.0, "b": 3.0, "c": 3.0}
    assert allot(9.5, {"a": None, "b": None}) == {"a": 5.0, "b": 4.0}
    assert allot(9.5, {"alone": None}) == {"alone": 9.5}
    many = allot(3.0, {str(n): None for n in range(6)})  # under one each: left as they are
    assert set(many.values()) == {0.5}
