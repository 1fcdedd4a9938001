"""The partner list's numbers kept between requests, and never served stale.

Computing every partner's numbers reads thousands of rows (about 250 ms at `reference` size),
while they change only when something writes (a sync, a link, an operator's UPDATE) or a
certification expires. On MariaDB each table's `UPDATE_TIME`, which the server sets at every
commit that changes the table (second precision, whoever wrote), tells whether a table the
numbers are built from changed since they were computed. Numbers are kept only while:
nothing changed in or after the second their computation started; the server has not
restarted since (its `UPDATE_TIME`s are not kept across restarts); and no certification has
expired or entered the 90-day window since (`summaries_until`). The server's times are
compared only when its system zone is UTC, as the connection's is (`db/engine.py`); otherwise,
and on SQLite, which has no such record, the numbers are computed for every request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from partnersync.config import Settings
from partnersync.db.engine import is_mariadb
from partnersync.sync.partner_view import PartnerSummary, summaries_until

WATCHED = (
    "partners",
    "contacts",
    "lms_users",
    "lms_groups",
    "lms_group_members",
    "lms_courses",
    "lms_enrollments",
    "partner_push_state",
)
STATE = text(
    "SELECT MAX(UPDATE_TIME), COUNT(*), NOW(), "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'UPTIME'), @@system_time_zone "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
    f"AND TABLE_NAME IN ({', '.join(repr(name) for name in WATCHED)})"
)
RESTART_SLACK = timedelta(seconds=2)
"""`NOW() - UPTIME` moves by a second as the two tick apart; a restart moves it by more."""


@dataclass(frozen=True)
class _State:
    changed: datetime | None  # the last commit to a watched table (None: none since start)
    clock: datetime  # the server's clock, in seconds
    started: datetime  # when the server started


@dataclass(frozen=True)
class _Kept:
    state: _State
    until: datetime | None
    items: list[PartnerSummary]

    def still_true(self, state: _State, now: datetime) -> bool:
        return (
            abs(state.started - self.state.started) <= RESTART_SLACK
            and (state.changed is None or state.changed < self.state.clock)
            and (self.until is None or now < self.until)
        )


class PartnerViewCache:
    """One process's copy of every partner's numbers, checked against the database at each
    use (one information_schema query, under a millisecond)."""

    def __init__(self) -> None:
        self._kept: _Kept | None = None
        self._lock = threading.Lock()

    def summaries(
        self, connection: Connection, settings: Settings, now: datetime
    ) -> list[PartnerSummary]:
        state = _state(connection) if is_mariadb(connection.dialect.name) else None
        if state is None:
            return summaries_until(connection, settings, now)[0]
        kept = self._kept
        if kept is not None and kept.still_true(state, now):
            return kept.items
        items, until = summaries_until(connection, settings, now)
        with self._lock:
            self._kept = _Kept(state, until, items)
        return items


def _state(connection: Connection) -> _State | None:
    """The server's record of changes, or None when it cannot be read (an account without
    access to it) or its times cannot be compared."""
    try:
        with connection.begin_nested():
            changed, tables, clock, uptime, zone = connection.execute(STATE).one()
    except SQLAlchemyError:
        return None
    if tables != len(WATCHED):  # a table it cannot see would never look changed
        return None
    if str(zone).upper() not in ("UTC", "+00:00", "GMT", "Z"):
        return None
    return _State(changed, clock, clock - timedelta(seconds=int(uptime)))
