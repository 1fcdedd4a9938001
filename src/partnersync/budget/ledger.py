"""The shared budget's rows: `api_budgets` (one per key) and `api_consumers` (one per process
using a key now). One heartbeat is one short transaction, serialised per key by the key row's
lock, on the database's clock: report what this process did, move the key's budget, and read
this process's share of it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from partnersync.budget.rule import BudgetRule, allot
from partnersync.db.engine import database_now, savepoint
from partnersync.db.schema import api_budgets, api_consumers

IDLE_RESET = timedelta(seconds=60)
"""A key nobody used for this long starts again from the configured rate: what the vendor
allowed a minute ago says little about what another user of the key takes now."""

FORGET = timedelta(minutes=10)
"""Rows of consumers that expired this long ago are deleted (they count for nothing after
expiry; keeping them a while shows on the dashboard who dropped out)."""


@dataclass(frozen=True)
class Beat:
    """What one consumer did since its last heartbeat."""

    requests: int = 0
    rate_limited: int = 0
    retry_after: float | None = None
    """The longest `Retry-After` among those 429s, in seconds."""
    used: float = 0.0
    """Requests per second over the interval."""
    demand: float | None = None
    """None: it waited for its share (would use more); else about what it would use."""


@dataclass(frozen=True)
class Verdict:
    """What the heartbeat decided for this consumer."""

    share: float
    budget: float
    consumers: int
    paused_for: float
    """Seconds every consumer of the key waits before its next request (a `Retry-After`)."""


def key_row(connection: Connection, key_id: str) -> Row[Any] | None:
    return connection.execute(
        select(api_budgets).where(api_budgets.c.key_id == key_id)
    ).one_or_none()


def _lock_key(
    connection: Connection, key_id: str, api: str, rule: BudgetRule, now: datetime | None
) -> Row[Any]:
    """The key's row, write-locked for this transaction (created at the start rate if new)."""
    same = api_budgets.c.budget
    locked = connection.execute(
        update(api_budgets).where(api_budgets.c.key_id == key_id).values(budget=same)
    )
    if locked.rowcount == 0:
        try:
            with savepoint(connection):
                created = now or database_now(connection)
                connection.execute(
                    insert(api_budgets).values(
                        key_id=key_id,
                        api=api,
                        budget=rule.start,
                        raised_at=created,
                        updated_at=created,
                    )
                )
        except IntegrityError:  # another process created it first: take its lock instead
            connection.execute(
                update(api_budgets).where(api_budgets.c.key_id == key_id).values(budget=same)
            )
    row = key_row(connection, key_id)
    assert row is not None
    return row


def _active(connection: Connection, key_id: str, now: datetime) -> list[Row[Any]]:
    return list(
        connection.execute(
            select(api_consumers).where(
                api_consumers.c.key_id == key_id, api_consumers.c.expires_at > now
            )
        )
    )


def heartbeat(
    connection: Connection,
    *,
    key_id: str,
    api: str,
    consumer: str,
    rule: BudgetRule,
    beat: Beat,
    ttl: timedelta,
    now: datetime | None = None,
) -> Verdict:
    """Record `beat` for `consumer`, move the key's budget, and return this consumer's share.

    The consumer is registered on its first heartbeat and stays active until `ttl` after its
    last. A 429 lowers the budget (`rule.throttle`); a heartbeat without one lets it rise for
    the time since the last rise (`rule.raised_at` is shared, so several consumers rise it
    together at the rule's pace, not once each). `now` None (production) is the database's
    clock, read once the key row is locked, so every replica judges expiry by one clock.
    """
    key = _lock_key(connection, key_id, api, rule, now)
    now = now or database_now(connection)
    others = [row for row in _active(connection, key_id, now) if row.consumer != consumer]
    budget, raised_at, throttled_at = key.budget, key.raised_at, key.throttled_at
    if not others and now - key.updated_at > IDLE_RESET:
        budget, raised_at, throttled_at = rule.start, now, None
    budget = min(max(budget, rule.floor), rule.ceiling)  # the settings may have changed
    paused_until = key.paused_until
    if beat.rate_limited:
        lowered = rule.throttle(budget, now, throttled_at)
        if lowered != budget:
            budget, throttled_at = lowered, now
        raised_at = now
        if beat.retry_after:
            until = now + timedelta(seconds=beat.retry_after)
            paused_until = until if paused_until is None else max(paused_until, until)
    else:
        budget, raised_at = rule.rise(budget, raised_at, now, throttled_at), now
    demands = {row.consumer: row.demand for row in others}
    demands[consumer] = beat.demand
    share = _within_room(allot(budget, demands)[consumer], budget, others)
    connection.execute(
        update(api_budgets)
        .where(api_budgets.c.key_id == key_id)
        .values(
            budget=budget,
            raised_at=raised_at,
            throttled_at=throttled_at,
            paused_until=paused_until,
            requests=api_budgets.c.requests + beat.requests,
            rate_limited=api_budgets.c.rate_limited + beat.rate_limited,
            updated_at=now,
        )
    )
    values = {
        "heartbeat_at": now,
        "expires_at": now + ttl,
        "share": share,
        "demand": beat.demand,
        "used": beat.used,
    }
    mine = api_consumers.c.key_id == key_id, api_consumers.c.consumer == consumer
    renewed = connection.execute(
        update(api_consumers)
        .where(*mine)
        .values(
            **values,
            requests=api_consumers.c.requests + beat.requests,
            rate_limited=api_consumers.c.rate_limited + beat.rate_limited,
        )
    )
    if renewed.rowcount == 0:
        connection.execute(
            insert(api_consumers).values(
                key_id=key_id,
                consumer=consumer,
                registered_at=now,
                requests=beat.requests,
                rate_limited=beat.rate_limited,
                **values,
            )
        )
    connection.execute(
        delete(api_consumers).where(
            api_consumers.c.key_id == key_id, api_consumers.c.expires_at < now - FORGET
        )
    )
    paused_for = (paused_until - now).total_seconds() if paused_until else 0.0
    return Verdict(share, budget, len(others) + 1, max(0.0, paused_for))


MIN_SHARE = 0.01
"""The share of a consumer that finds no room (others still hold what it is due): in effect
a pause until its next heartbeat, as a bucket needs a rate above zero."""


def _within_room(fair: float, budget: float, others: list[Row[Any]]) -> float:
    """A rise only into what the other consumers do not hold now.

    Their shares change at their own heartbeats, which come at other moments. A consumer
    whose fair share grew because another's shrank waits until that one has taken the
    smaller share, so the key is never over budget in between.
    """
    room = budget - sum(row.share for row in others)
    if fair == int(fair):
        room = math.floor(room + 1e-9)  # whole shares stay whole
    return float(max(MIN_SHARE, min(fair, room)))


def leave(connection: Connection, key_id: str, consumer: str) -> None:
    """The consumer stops using the key: its share goes to the others at their next beat."""
    connection.execute(
        delete(api_consumers).where(
            api_consumers.c.key_id == key_id, api_consumers.c.consumer == consumer
        )
    )


@dataclass(frozen=True)
class KeyUsage:
    """One key as the dashboard and /metrics show it."""

    key_id: str
    api: str
    budget: float
    consumers: int
    requests_per_second: float
    requests: int
    rate_limited: int
    updated_at: datetime


def usage(connection: Connection, now: datetime | None = None) -> list[KeyUsage]:
    """Every key's budget, its active consumers and their request rate now."""
    now = now or database_now(connection)
    active = (
        select(
            api_consumers.c.key_id,
            func.count().label("consumers"),
            func.sum(api_consumers.c.used).label("used"),
        )
        .where(api_consumers.c.expires_at > now)
        .group_by(api_consumers.c.key_id)
        .subquery()
    )
    rows = connection.execute(
        select(api_budgets, active.c.consumers, active.c.used)
        .outerjoin(active, active.c.key_id == api_budgets.c.key_id)
        .order_by(api_budgets.c.key_id)
    )
    return [
        KeyUsage(
            key_id=row.key_id,
            api=row.api,
            budget=row.budget,
            consumers=row.consumers or 0,
            requests_per_second=float(row.used or 0.0),
            requests=row.requests,
            rate_limited=row.rate_limited,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
