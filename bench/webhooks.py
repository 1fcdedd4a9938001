"""Benchmark: how fast a Northpass completion reaches MariaDB and Impartner through webhooks.

Serves the sandbox (demo size, 100 ms latency, 10 requests/s per key) and, in this process,
the partnersync app (receiver and webhook worker, as `partnersync serve` runs them) over a
scratch MariaDB database filled by the pull tasks and one push. The sandbox is subscribed to
the receiver for completions. Then:

1. 100 completions of partner users, spread over a minute: per completion, the seconds from
   the completion (the sandbox delivers at once) to its row in `lms_enrollments` and to the
   Impartner count that includes it; Northpass requests per event.
2. 50 more with 10 % of the deliveries dropped (only the sent log has them): how long after
   the last completion until every row is stored, against the replay interval.
3. The receiver's answer time: 100 signed events of a type partnersync ignores, one by one.
4. The two ways an incremental `sync_enrollments` can find changed people without webhooks:
   the people listing since a watermark, or every course's enrollment listing.

    .venv/bin/python bench/webhooks.py [--mariadb URL] [--replay-minutes 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import threading
import time
from collections import Counter
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine, select, tuple_

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import lms_courses, lms_enrollments, partners
from partnersync.sandbox.server import RunningSandbox, bind, running_sandbox
from partnersync.sandbox.webhooks import sign
from partnersync.sync.inbox import SIGNATURE_HEADER
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import PULL_ORDER, TASKS
from partnersync.tasks.runner import run_task
from partnersync.web.app import create_app
from scratch import empty_mariadb_database

TOKEN = "bench-token-0123456789"
COMPLETED = "course_completed_events"
Pair = tuple[str, str]


def scratch_database(server_url: str, name: str) -> Engine:
    engine = make_engine(empty_mariadb_database(server_url, name))
    migrate(engine, TASKS)
    return engine


def settings_for(sb: RunningSandbox, replay_minutes: int) -> Settings:
    values: dict[str, Any] = {
        "NORTHPASS_BASE_URL": sb.base_url,
        "NORTHPASS_API_KEY": sb.northpass_key,
        "IMPARTNER_BASE_URL": sb.base_url,
        "IMPARTNER_API_KEY": sb.impartner_key,
        "IMPARTNER_TENANT_ID": sb.tenant_id,
        "PARTNERSYNC_API_TOKEN": TOKEN,
        "NORTHPASS_WEBHOOK_SECRET": sb.knobs.webhook_secret,
        "PARTNERSYNC_WEBHOOK_REPLAY_MINUTES": replay_minutes,
        "PARTNERSYNC_SHUTDOWN_GRACE_SECONDS": 0,
    }
    return Settings(**values)


def fill(engine: Engine, settings: Settings) -> None:
    for task in (*PULL_ORDER, "sync_to_impartner"):
        started = time.monotonic()
        outcome = run_task(engine, settings, task, TASK_FUNCTIONS[task], mode="full")
        print(f"  {task:<18} {outcome.status:<8} {time.monotonic() - started:6.1f} s")
        if outcome.status != "success":
            raise SystemExit(f"{task} failed: {outcome.error}")


def completions(engine: Engine, sb: RunningSandbox, count: int, rng: random.Random) -> list[Pair]:
    """Partner users (of one partner each) and NPCU courses they have not completed."""
    with engine.connect() as c:
        worth = sorted(c.scalars(select(lms_courses.c.id).where(lms_courses.c.npcu_value > 0)))
        owners: dict[str, set[int]] = {}
        for partner_id, user_id in c.execute(partner_user_pairs()):
            owners.setdefault(user_id, set()).add(partner_id)
    people = sorted(user for user, owned in owners.items() if len(owned) == 1)
    chosen: set[Pair] = set()
    while len(chosen) < count:
        person, course = rng.choice(people), rng.choice(worth)
        item = sb.dataset.enrollments.get(course, {}).get(person)
        if item is None or item.progress_status != "completed":
            chosen.add((person, course))
    return sorted(chosen)


def partner_of(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {user: partner for partner, user in c.execute(partner_user_pairs())}


def account_of(engine: Engine) -> dict[int, int]:
    with engine.connect() as c:
        return dict(c.execute(select(partners.c.id, partners.c.impartner_id)).tuples().all())


def stored_completed(engine: Engine, pairs: list[Pair]) -> set[Pair]:
    if not pairs:
        return set()
    key = tuple_(lms_enrollments.c.user_id, lms_enrollments.c.course_id)
    with engine.connect() as c:
        rows = c.execute(
            select(lms_enrollments.c.user_id, lms_enrollments.c.course_id).where(
                key.in_(pairs), lms_enrollments.c.status == "completed"
            )
        )
        return {(user, course) for user, course in rows}


class Watch:
    """Polls the database and the sandbox's accounts every 50 ms; notes when each completion
    shows in `lms_enrollments` and when its partner's Impartner count includes it."""

    def __init__(self, engine: Engine, sb: RunningSandbox) -> None:
        self.engine, self.sb = engine, sb
        self.partner, self.account = partner_of(engine), account_of(engine)
        self.made: dict[Pair, float] = {}
        self.target: dict[Pair, tuple[int, int]] = {}  # account id, count that includes it
        self.in_db: dict[Pair, float] = {}
        self.in_crm: dict[Pair, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pushed: Counter[int] = Counter()

    def count(self, account_id: int) -> int:
        return int(self.sb.dataset.accounts[account_id].Certification_Count__cf or 0)

    def complete(self, pair: Pair) -> None:
        account_id = self.account[self.partner[pair[0]]]
        with self.lock:
            if account_id not in self.pushed:
                self.pushed[account_id] = self.count(account_id)
            self.pushed[account_id] += 1
            self.target[pair] = (account_id, self.pushed[account_id])
            self.made[pair] = time.monotonic()
        self.sb.dataset.add_completion(*pair)

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            with self.lock:
                waiting = [p for p in self.made if p not in self.in_db]
                crm = [p for p in self.made if p not in self.in_crm]
            for pair in stored_completed(self.engine, waiting):
                self.in_db[pair] = now
            for pair in crm:
                account_id, wanted = self.target[pair]
                if self.count(account_id) >= wanted:
                    self.in_crm[pair] = now
            time.sleep(0.05)

    def delays(self, seen: dict[Pair, float], pairs: list[Pair]) -> list[float]:
        return [seen[p] - self.made[p] for p in pairs if p in seen]


def summary(label: str, delays: list[float], of: int) -> str:
    if len(delays) < 2:
        return f"{label}: {len(delays)} of {of} seen"
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    return (
        f"{label}: {len(delays)} of {of}, p50 {cuts[49]:.2f} s, p95 {cuts[94]:.2f} s, "
        f"max {max(delays):.2f} s"
    )


def northpass_requests(sb: RunningSandbox) -> dict[str, int]:
    return {
        route: stats["total"]
        for route, stats in sb.stats()["routes"].items()
        if route.startswith("GET /v2") or route.startswith("POST /v2")
    }


def wait_until(condition: Any, seconds: float) -> float | None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            return None
        time.sleep(0.1)
    return time.monotonic() - started


def answer_times(url: str, secret: str, count: int) -> list[float]:
    """Milliseconds the receiver takes to answer each of `count` new signed events."""
    times = []
    with httpx.Client(timeout=10) as client:
        for n in range(count):
            body = json.dumps({"data": {"id": f"probe-{n}", "type": "bench_probe_events"}}).encode()
            headers = {SIGNATURE_HEADER: sign(secret, body)}
            sent = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            times.append((time.perf_counter() - sent) * 1000)
    return times


def scan_requests(sb: RunningSandbox) -> int:
    """Requests to read every course's enrollment listing, 100 a page."""
    headers = {"X-Api-Key": sb.northpass_key}
    total = 0
    with httpx.Client(base_url=sb.base_url, headers=headers, timeout=30) as client:
        for course in sorted(sb.dataset.courses):
            page = 1
            while True:
                params = {"limit": 100, "page": page}
                answer = client.get(f"/v2/courses/{course}/enrollments", params=params)
                if answer.status_code == 429:
                    time.sleep(0.2)
                    continue
                total += 1
                if "next" not in answer.json().get("links", {}):
                    break
                page += 1
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/")
    parser.add_argument("--replay-minutes", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(16)
    engine = scratch_database(args.mariadb, "partnersync_bench_webhooks")
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    with running_sandbox(size="demo", seed=1, latency_ms=100, rate_limit_per_second=10) as sb:
        settings = settings_for(sb, args.replay_minutes)
        print("fill (full pulls and a push):")
        fill(engine, settings)
        app = create_app(engine, settings, functions={})
        config = uvicorn.Config(app, http="h11", log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        sock = bind(0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/webhooks/northpass"
        sb.set_knobs(webhook_subscriptions=[{"url": url, "types": [COMPLETED]}])
        time.sleep(3)  # the worker's replay at start is done
        watch = Watch(engine, sb)
        threading.Thread(target=watch.run, daemon=True).start()
        try:
            first = completions(engine, sb, 100, rng)
            sb.reset_counters()
            for pair in first:
                watch.complete(pair)
                time.sleep(0.6)
            wait_until(lambda: len(watch.in_crm) == len(first), 120)
            used = northpass_requests(sb)
            print("1. 100 completions over 60 s, every delivery arriving:")
            print("   " + summary("to lms_enrollments", watch.delays(watch.in_db, first), 100))
            print("   " + summary("to the Impartner count", watch.delays(watch.in_crm, first), 100))
            patches = sb.stats()["routes"].get("PATCH /api/objects/v1/{object}", {})
            print(f"   Impartner PATCHes: {patches.get('total', 0)}")
            print(
                f"   Northpass requests: {sum(used.values())} "
                f"({sum(used.values()) / len(first):.2f} per event): {used}"
            )

            sb.set_knobs(webhook_drop_share=0.1, fault_seed=16)
            second = completions(engine, sb, 50, rng)
            for pair in second:
                watch.complete(pair)
                time.sleep(0.6)
            dropped = sum(
                1 for r in sb.state.webhooks.kept() if r.attempt_left == 0 and not r.received_at
            )
            exact = wait_until(lambda: len(watch.in_db) == len(first) + len(second), 600)
            print(f"2. 50 more with 10 % of deliveries dropped ({dropped} dropped):")
            shown = "not within 600 s" if exact is None else f"{exact:.1f} s"
            print(
                f"   every row stored {shown} after the last completion "
                f"(replay interval {args.replay_minutes * 60} s)"
            )
            print("   " + summary("to lms_enrollments", watch.delays(watch.in_db, second), 50))
            answers = answer_times(url, sb.knobs.webhook_secret, 100)
            cuts = statistics.quantiles(answers, n=100, method="inclusive")
            print(
                f"3. receiver answers (100 new events): p50 {cuts[49]:.1f} ms, "
                f"p95 {cuts[94]:.1f} ms, max {max(answers):.1f} ms"
            )
        finally:
            watch.stop.set()
            server.should_exit = True
            thread.join(timeout=30)
            sock.close()

        sb.set_knobs(webhook_subscriptions=[])
        for pair in completions(engine, sb, 20, rng):
            sb.dataset.add_completion(*pair)
        time.sleep(1.1)
        sb.reset_counters()
        outcome = run_task(engine, settings, "sync_enrollments", TASK_FUNCTIONS["sync_enrollments"])
        alone = northpass_requests(sb)
        sb.reset_counters()
        scan = scan_requests(sb)
        print("4. finding 20 changed people without webhooks (incremental sync_enrollments):")
        print(
            f"   people listing since the watermark: {alone.get('GET /v2/people', 0)} request(s), "
            f"then {alone.get('GET /v2/transcripts/{id}', 0)} transcript(s) ({outcome.status})"
        )
        print(f"   every course's enrollment listing instead: {scan} request(s)")
    engine.dispose()


if __name__ == "__main__":
    main()
