"""Benchmark: how fast the partner view answers at `reference` size on MariaDB.

Fills a scratch MariaDB database from the sandbox at `reference` size (every pull task, full,
then the push, so pushed and CRM values and a snapshot exist) and times, in-process through
the ASGI app (no network), `GET /api/partners` with every partner sorted by certifications and
`GET /api/partners/{id}` for random partners. Prints p50/p95/p99 and the data's size.

    .venv/bin/python bench/partners.py [--size reference] [--requests 100] [--mariadb URL]
        [--keep] [--reuse]   # keep the filled database / time one kept before
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import lms_enrollments, lms_users, partners
from partnersync.sandbox.server import running_sandbox
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import PULL_ORDER, TASKS
from partnersync.tasks.runner import run_task
from partnersync.web.app import create_app

TOKEN = "bench-token-0123456789"
DATABASE = "partnersync_bench_partners"


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return (
        f"p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"
    )


def fill(url: str, size: str) -> None:
    """Every pull task, full, then the push, from a sandbox of `size`."""
    engine = make_engine(url)
    migrate(engine, TASKS)
    with running_sandbox(size, rate_limit_per_second=None) as sb:
        settings = Settings(
            PARTNERSYNC_DATABASE_URL=url,
            NORTHPASS_BASE_URL=sb.base_url,
            NORTHPASS_API_KEY=sb.northpass_key,
            NORTHPASS_RATE_PER_SECOND=1000,
            IMPARTNER_BASE_URL=sb.base_url,
            IMPARTNER_API_KEY=sb.impartner_key,
            IMPARTNER_TENANT_ID=sb.tenant_id,
            IMPARTNER_RATE_PER_SECOND=1000,
        )
        started = time.perf_counter()
        for task in (*PULL_ORDER, "sync_to_impartner"):
            outcome = run_task(engine, settings, task, TASK_FUNCTIONS[task], mode="full")
            assert outcome.status == "success", (task, outcome.error)
        print(f"filled in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="reference")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument("--reuse", action="store_true", help="time a database kept before")
    args = parser.parse_args()

    server = make_url(args.mariadb)
    admin = create_engine(server)
    url = server.set(database=DATABASE).render_as_string(hide_password=False)
    if not args.reuse:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
            connection.execute(text(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"))
        fill(url, args.size)
    engine = make_engine(url)
    with engine.connect() as connection:
        for table in ("partners", "contacts", "lms_users", "lms_group_members", "lms_enrollments"):
            connection.execute(text(f"ANALYZE TABLE {table}")).all()  # as a live database has
        counts = [
            connection.scalar(select(func.count()).select_from(table))
            for table in (partners, lms_users, lms_enrollments)
        ]
        ids = list(connection.scalars(select(partners.c.id).where(partners.c.deleted_at.is_(None))))
    print(f"data: {counts[0]} partners, {counts[1]} LMS users, {counts[2]} enrollments")

    settings = Settings(PARTNERSYNC_DATABASE_URL=url, PARTNERSYNC_API_TOKEN=TOKEN)
    with TestClient(create_app(engine, settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        timings: dict[str, list[float]] = {"list": [], "detail": []}
        rng = random.Random(1)
        for _ in range(3):  # warm caches and the connection pool
            client.get("/api/partners", params={"limit": 5000})
        for _ in range(args.requests):
            t0 = time.perf_counter()
            answer = client.get(
                "/api/partners",
                params={"sort": "certification_count", "order": "desc", "limit": 5000},
            )
            timings["list"].append(time.perf_counter() - t0)
            assert answer.status_code == 200 and answer.json()["total"] == len(ids)
            t0 = time.perf_counter()
            assert client.get(f"/api/partners/{rng.choice(ids)}").status_code == 200
            timings["detail"].append(time.perf_counter() - t0)
    print(f"GET /api/partners (all {len(ids)}, sorted): {percentiles(timings['list'])}")
    print(f"GET /api/partners/{{id}}: {percentiles(timings['detail'])}")
    engine.dispose()
    if not args.keep:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))


if __name__ == "__main__":
    main()
