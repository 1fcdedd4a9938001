"""Pull syncs against the sandbox: requests versus the data's minimum, budget use, memory.

    python bench/pull.py [--size reference] [--latency-ms 100] [--database-url URL]

The sandbox runs in a child process (its own CPU and memory, like the real services),
limited to 10 requests/s per key with the given latency. This process runs every
implemented pull task in `sync all` order, full, then changes 1 % of the records in the
sandbox and runs them again incrementally. It prints, per run: requests per API, the
minimum number of requests the data needs, wall time divided by the time the configured
budget needs for those requests (1.0 = every request went out at the budget's pace), and
this process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import (
    contacts,
    lms_courses,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.sync.partner_users import partner_user_ids
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import PULL_ORDER, TASKS
from partnersync.tasks.runner import run_task
from partnersync.types import Mode

# --- the sandbox child --------------------------------------------------------------------


def serve_sandbox(size: str, latency_ms: float) -> None:
    """Child process: serve the sandbox; apply `churn SHARE` commands read from stdin."""
    from partnersync.sandbox.server import running_sandbox

    with running_sandbox(size=size, seed=1, latency_ms=latency_ms) as sb:
        print(
            json.dumps(
                {
                    "base_url": sb.base_url,
                    "northpass_key": sb.northpass_key,
                    "impartner_key": sb.impartner_key,
                    "tenant_id": sb.tenant_id,
                }
            ),
            flush=True,
        )
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "churn":
                print(json.dumps(churn(sb.dataset, float(argument))), flush=True)
            elif command == "quit":
                return


def churn(ds: Any, share: float) -> dict[str, int]:
    """Change `share` of people, groups, accounts and users, and add completions."""
    rng = random.Random(42)

    def pick(ids: Any) -> list[Any]:
        ids = sorted(ids)
        return rng.sample(ids, max(1, int(len(ids) * share)))

    people = pick(ds.people)
    for person_id in people:
        ds.update_person(person_id, last_name=ds.people[person_id].last_name + "·")
    learners = pick(pid for pid in ds.transcripts if pid in ds.people)
    courses = sorted(ds.courses)
    for person_id in learners:
        ds.add_completion(person_id, rng.choice(courses))
    for group_id in pick(ds.groups):
        ds.add_membership(group_id, rng.choice(people))
    for account_id in pick(ds.accounts):
        ds.touch_account(account_id)
    for user_id in pick(ds.users):
        ds.touch_user(user_id)
    return {"people": len(people), "learners": len(learners)}


# --- the measuring parent -----------------------------------------------------------------


def minimum_requests(engine: Engine, settings: Settings) -> dict[str, int]:
    """What the stored data needs at the least: one request per full page, per partner user."""
    np_page, imp_page = settings.northpass_page_size, settings.impartner_page_size

    def pages(rows: int, size: int) -> int:
        return max(1, math.ceil(rows / size))

    with engine.connect() as connection:
        count = lambda table: connection.scalar(select(func.count()).select_from(table)) or 0  # noqa: E731
        members = (
            connection.execute(
                select(func.count())
                .select_from(lms_group_members)
                .join(lms_groups, lms_groups.c.id == lms_group_members.c.group_id)
                .where(lms_groups.c.partner_id.is_not(None))
                .group_by(lms_group_members.c.group_id)
            )
            .scalars()
            .all()
        )
        partner_users = len(connection.execute(partner_user_ids()).all())
        northpass = (
            pages(count(lms_users), np_page)
            + pages(count(lms_groups), np_page)
            + sum(pages(n, np_page) for n in members)
            + 2 * pages(count(lms_courses), np_page)
            + partner_users
        )
        impartner = pages(count(partners), imp_page) + pages(count(contacts), imp_page) + 1
    return {"northpass": northpass, "impartner": impartner}


def run_all(engine: Engine, settings: Settings, mode: Mode) -> dict[str, Any]:
    started = time.perf_counter()
    requests = {"northpass": 0, "impartner": 0}
    for task in PULL_ORDER:
        outcome = run_task(engine, settings, task, TASK_FUNCTIONS[task], mode=mode)
        if outcome.status != "success":
            raise SystemExit(f"{task} failed: {outcome.error}")
        for api, stats in outcome.report.api_requests.items():
            requests[api] += stats["requests"]
    wall = time.perf_counter() - started
    floor = (
        requests["northpass"] / settings.northpass_rate_per_second
        + requests["impartner"] / settings.impartner_rate_per_second
    )
    return {
        "mode": mode,
        "wall_s": round(wall, 1),
        "requests": requests,
        "budget_floor_s": round(floor, 1),
        "wall_over_floor": round(wall / floor, 3),
    }


def scratch_database(url: str | None) -> tuple[str, Any]:
    if url is None:
        folder = tempfile.mkdtemp()
        return f"sqlite:///{Path(folder) / 'bench.db'}", None
    server = make_url(url)
    admin = create_engine(server)
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS partnersync_bench_pull"))
        connection.execute(text("CREATE DATABASE partnersync_bench_pull CHARACTER SET utf8mb4"))
    return server.set(database="partnersync_bench_pull").render_as_string(False), admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="reference")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--serve-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.size, args.latency_ms)
        return

    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-sandbox",
            "--size",
            args.size,
            "--latency-ms",
            str(args.latency_ms),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    sandbox = json.loads(child.stdout.readline())
    url, admin = scratch_database(args.database_url)
    engine = make_engine(url)
    migrate(engine, TASKS)
    settings = Settings(
        **{
            "PARTNERSYNC_DATABASE_URL": url,
            "NORTHPASS_BASE_URL": sandbox["base_url"],
            "NORTHPASS_API_KEY": sandbox["northpass_key"],
            "IMPARTNER_BASE_URL": sandbox["base_url"],
            "IMPARTNER_API_KEY": sandbox["impartner_key"],
            "IMPARTNER_TENANT_ID": sandbox["tenant_id"],
        }
    )
    try:
        print(
            f"tasks: {', '.join(PULL_ORDER)}; size {args.size}; sandbox 10 req/s per key, "
            f"{args.latency_ms:.0f} ms latency; budget northpass "
            f"{settings.northpass_rate_per_second}/s, impartner "
            f"{settings.impartner_rate_per_second}/s",
            flush=True,
        )
        full = run_all(engine, settings, "full")
        full["minimum_requests"] = minimum_requests(engine, settings)
        print(json.dumps(full), flush=True)
        child.stdin.write("churn 0.01\n")
        child.stdin.flush()
        print("changed:", child.stdout.readline().strip(), flush=True)
        incremental = run_all(engine, settings, "incremental")
        share = sum(incremental["requests"].values()) / sum(full["requests"].values())
        incremental["share_of_full_requests"] = round(share, 4)
        print(json.dumps(incremental), flush=True)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the syncing process: {peak_mb:.0f} MB", flush=True)
    finally:
        child.stdin.write("quit\n")
        child.stdin.flush()
        child.wait(timeout=30)
        engine.dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text("DROP DATABASE IF EXISTS partnersync_bench_pull"))


if __name__ == "__main__":
    main()
