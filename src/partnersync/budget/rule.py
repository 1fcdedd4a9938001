"""The two rules of a shared request budget, as plain arithmetic: how a key's budget moves
(additive rise while the vendor accepts everything, multiplicative back-off on 429), and how
the budget is divided among the processes using the key now (max-min fair by demand)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BudgetRule:
    """How one API key's budget (requests/s for all of partnersync together) moves.

    It starts at `start` (the configured rate), rises by `rise_per_second` for each second
    without a 429 up to `ceiling` (the vendor's published limit), and is multiplied by
    `backoff` on a 429, at most once per `react_seconds`: the 429s of requests already in
    flight when the budget fell are the same congestion, not new evidence. No rise within
    `hold_seconds` of the last back-off, so a key shared with a foreign consumer settles
    below the point where the vendor refuses instead of bouncing off it.
    """

    start: float
    ceiling: float
    floor: float = 0.5
    rise_per_second: float = 0.5
    backoff: float = 0.6
    react_seconds: float = 1.0
    hold_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.start <= self.ceiling:
            raise ValueError(
                f"need 0 < floor ({self.floor}) <= start ({self.start}) <= ceiling ({self.ceiling})"
            )
        if not 0 < self.backoff < 1:
            raise ValueError(f"backoff must be between 0 and 1, got {self.backoff}")

    def rise(
        self, budget: float, since: datetime, now: datetime, throttled_at: datetime | None
    ) -> float:
        """The budget after the 429-free time from `since` to `now`."""
        if throttled_at is not None:
            since = max(since, throttled_at + timedelta(seconds=self.hold_seconds))
        seconds = (now - since).total_seconds()
        if seconds <= 0:
            return budget
        return min(self.ceiling, budget + self.rise_per_second * seconds)

    def throttle(self, budget: float, now: datetime, throttled_at: datetime | None) -> float:
        """The budget after a 429 seen at `now` (unchanged if it answers the last back-off)."""
        if throttled_at is not None and now - throttled_at < timedelta(seconds=self.react_seconds):
            return budget
        return max(self.floor, budget * self.backoff)


def allot(budget: float, demands: Mapping[str, float | None]) -> dict[str, float]:
    """Each consumer's rate: max-min fair shares of `budget` (water-filling).

    A demand is the rate a consumer would use if given it; None means "all it can get" (it
    waited on its share). Consumers wanting less than an equal share get what they want, and
    the rest is split evenly among the others; what nobody wants is spread over everyone, so a
    consumer that starts to need more has it before the next division. The shares add up to
    `budget`, never more (to its whole part when several share it, see `_whole`).
    """
    shares: dict[str, float] = {}
    left = budget
    pending = sorted(demands, key=lambda name: (demands[name] is None, demands[name] or 0.0, name))
    for position, name in enumerate(pending):
        equal = left / (len(pending) - position)
        demand = demands[name]
        shares[name] = equal if demand is None else min(demand, equal)
        left -= shares[name]
    spare = left / len(shares) if shares else 0.0
    return _whole({name: share + spare for name, share in shares.items()}, budget)


def _whole(shares: dict[str, float], budget: float) -> dict[str, float]:
    """Shares in whole requests/s when several consumers each have at least one.

    A bucket at r requests/s can let ⌈r⌉ through in some one-second window, so three shares of
    3.33 can meet at 12 in one second on a key allowed 10. Whole shares adding up to at most
    ⌊budget⌋ cannot: the largest remainders get the spare requests.
    """
    if len(shares) < 2 or min(shares.values()) < 1:
        return shares
    whole = {name: float(math.floor(share)) for name, share in shares.items()}
    spare = math.floor(budget) - int(sum(whole.values()))
    by_remainder = sorted(shares, key=lambda name: (round(whole[name] - shares[name], 9), name))
    for name in by_remainder[: max(0, spare)]:
        whole[name] += 1
    return whole
