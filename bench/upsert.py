"""Bulk upsert throughput: 100,000 `lms_users` rows, first load then a 10 %-changed re-sync.

    python bench/upsert.py [--rows N] [--mariadb-url URL]

Prints rows/s for each phase on SQLite (a file in a temporary directory) and on
MariaDB (a scratch database `partnersync_bench`, dropped afterwards).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from partnersync.db.bulk import upsert
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import lms_users
from partnersync.tasks.registry import TASKS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def person(i: int, version: int = 0) -> dict[str, Any]:
    return {
        "id": f"{i:08x}-5e1f-4c2a-9d3b-{i:012x}",
        "email": f"first.last{i}@partner{i % 1500}.example.com",
        "email_domain": f"partner{i % 1500}.example.com",
        "first_name": "Zoë" if i % 7 == 0 else "Anna",
        "last_name": f"Surname{i}",
        "status": "active",
        "created_at_lms": T0,
        "updated_at_lms": T0 + timedelta(seconds=i + version * 10_000_000),
        "last_active_at": T0 + timedelta(days=version),
        "deactivated_at": None,
    }


def timed_load(engine: Engine, rows: list[dict[str, Any]]) -> tuple[float, str]:
    started = time.perf_counter()
    with engine.begin() as connection:
        counts = upsert(connection, lms_users, rows)
    elapsed = time.perf_counter() - started
    summary = f"created={counts.created} updated={counts.updated} unchanged={counts.unchanged}"
    return len(rows) / elapsed, summary


def bench(name: str, engine: Engine, n: int) -> None:
    migrate(engine, TASKS)
    first = [person(i) for i in range(n)]
    resync = [person(i, version=1) if i % 10 == 0 else person(i) for i in range(n)]
    rate, summary = timed_load(engine, first)
    print(f"{name:8} first load  {n:>7} rows  {rate:>9,.0f} rows/s  ({summary})")
    rate, summary = timed_load(engine, resync)
    print(f"{name:8} re-sync 10% {n:>7} rows  {rate:>9,.0f} rows/s  ({summary})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mariadb-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        bench("sqlite", engine, args.rows)
        engine.dispose()

    server = make_url(args.mariadb_url)
    admin = create_engine(server)
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS partnersync_bench"))
        connection.execute(text("CREATE DATABASE partnersync_bench CHARACTER SET utf8mb4"))
    engine = make_engine(server.set(database="partnersync_bench").render_as_string(False))
    try:
        bench("mariadb", engine, args.rows)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS partnersync_bench"))


if __name__ == "__main__":
    main()
