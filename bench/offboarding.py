"""What offboarding one partner costs: the requests of removing its 100 people at `reference` size.

    python bench/offboarding.py [--size reference] [--people 100]

Against the sandbox (no rate limit: requests are counted, not timed) over an embedded SQLite
database: a partner with `--people` contacts, each an LMS user in the partner's group and in
"All Partners", is added to the generated data, and the pulls that offboarding builds on
(`impartner_sync`, `sync_users`, `sync_groups`) load everything. A first `group_members_sync`
a day later removes the people the generated data already has leaving (so the measured run
holds this partner only), and an incremental `sync_groups` reads back what it changed. Then
the partner goes inactive in Impartner; the incremental `impartner_sync` and `sync_groups` that
notice it are counted, and `group_members_sync` a day later (past the grace period): first
under the deletion guard, which refuses (the partner's group would lose every member), then
with the guard lifted, as an operator would.
Memberships the sandbox made count as added outside partnersync, so the runs set
PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from partnersync import logs
from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox, running_sandbox
from partnersync.sync.matching import is_all_partners
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import TASKS
from partnersync.tasks.runner import RunOutcome, run_task

NAME = "Offboarding Benchmark Ltd"
REMOVE = "DELETE /v2/groups/{id}/relationships/people"


def plant(sb: RunningSandbox, people: int) -> int:
    """The partner, its group and its people; returns the account id."""
    ds = sb.dataset
    account = ds.add_account(
        NAME, Partner_Tier__cf="Certified", Website="https://offboard.example/"
    )
    group = ds.add_group(f"ptr_{NAME}")
    everyone = next(g.id for g in ds.groups.values() if is_all_partners(g.name))
    for n in range(people):
        email = f"person.{n}@offboard.example"
        person = ds.add_person(email, "Person", f"No{n}")
        ds.add_user(email, "Person", f"No{n}", Account=account.Id)
        ds.add_membership(group.id, person.id)
        ds.add_membership(everyone, person.id)
    return account.Id


def counted(
    sb: RunningSandbox, run: Callable[[], RunOutcome]
) -> tuple[RunOutcome, dict[str, int], float]:
    """Run, and return its outcome, its requests by route and its wall time."""
    sb.reset_counters()
    started = time.perf_counter()
    outcome = run()
    elapsed = time.perf_counter() - started
    routes: dict[str, Any] = sb.stats()["routes"]
    return outcome, {route: int(c.get("total", 0)) for route, c in routes.items()}, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="reference")
    parser.add_argument("--people", type=int, default=100)
    args = parser.parse_args()
    logs.configure("WARNING")  # the refused run is expected; its traceback is not news
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_sandbox(size=args.size, seed=1, rate_limit_per_second=None) as sb,
    ):
        engine = make_engine(f"sqlite:///{Path(scratch) / 'bench.db'}")
        migrate(engine, TASKS)
        base: dict[str, Any] = {
            "NORTHPASS_BASE_URL": sb.base_url,
            "NORTHPASS_API_KEY": sb.northpass_key,
            "NORTHPASS_RATE_PER_SECOND": 1000,
            "IMPARTNER_BASE_URL": sb.base_url,
            "IMPARTNER_API_KEY": sb.impartner_key,
            "IMPARTNER_TENANT_ID": sb.tenant_id,
            "IMPARTNER_RATE_PER_SECOND": 1000,
            "PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS": True,
        }

        def run(task: str, days: int = 0, mode: Any = "incremental", **extra: Any) -> RunOutcome:
            """Run `task` as if `days` later (an hour on, so the grace has surely passed)."""

            def later() -> datetime:
                return utcnow() + timedelta(days=days, hours=1)

            settings = Settings(**base, **extra)
            return run_task(engine, settings, task, TASK_FUNCTIONS[task], mode=mode, clock=later)

        account = plant(sb, args.people)
        for task in ("impartner_sync", "sync_users", "sync_groups"):
            assert run(task, mode="full").status == "success", task
        lifted = {"PARTNERSYNC_ALLOW_MASS_DELETE": True}
        before = run("group_members_sync", days=1, **lifted)
        assert before.status == "success", before.error
        assert run("sync_groups").status == "success"  # reads back what that run changed

        sb.dataset.update_account(account, Account_Status__cf="Inactive")
        rows = []
        for task in ("impartner_sync", "sync_groups"):
            outcome, routes, elapsed = counted(sb, partial(run, task))
            assert outcome.status == "success", (task, outcome.error)
            rows.append((f"{task} (incremental, notices it)", sum(routes.values()), 0, elapsed))
        refused, routes, elapsed = counted(sb, partial(run, "group_members_sync", days=2))
        assert refused.status == "failed"
        rows.append(
            ("group_members_sync under the guard (refused)", sum(routes.values()), 0, elapsed)
        )
        done, routes, elapsed = counted(sb, partial(run, "group_members_sync", days=2, **lifted))
        assert done.status == "success", done.error
        removed = done.report.stream("northpass.offboarding").deleted
        rows.append(("group_members_sync, guard lifted", sum(routes.values()), removed, elapsed))

    ds = sb.dataset
    print(
        f"size={args.size}: people {len(ds.people):,}, groups {len(ds.groups):,}, "
        f"accounts {len(ds.accounts):,}, users {len(ds.users):,}"
    )
    print(
        f"before: {before.report.stream('northpass.offboarding').deleted} membership(s) of "
        "people the generated data has leaving removed (not measured)"
    )
    print(f"refused: {refused.error}")
    print("run | requests | memberships removed | seconds")
    for name, requests, count, seconds in rows:
        print(f"{name} | {requests} | {count} | {seconds:.2f}")
    print(
        "requests of the offboarding run by route: "
        + ", ".join(f"{route} {n}" for route, n in sorted(routes.items()))
    )
    print(f"of which {REMOVE}: {routes.get(REMOVE, 0)}")


if __name__ == "__main__":
    main()
