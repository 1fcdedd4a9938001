"""What confirming sweep candidates costs: extra requests of full people/groups/courses runs.

    python bench/confirmed_deletions.py [--size reference]

A full read of an offset-paged Northpass listing can miss live records when earlier ones are
deleted during the read; every sweep candidate is therefore confirmed with `GET
/v2/{collection}/{id}` (404 = gone) before it is soft-deleted. This script runs `sync_users`,
`sync_groups` and `sync_courses` full against the sandbox (no rate limit: requests are counted,
not timed) in three situations and prints all their requests and the confirmation lookups:

1. nothing changed since the last full run;
2. 1 % of people, groups and courses deleted between two full runs;
3. 1 % deleted *during* the read (after the first page of each listing), the case that shifts
   live records out of sight.

The alternative — re-reading a listing until two reads agree — costs at least one more full
read of each listing (its page requests) on every full run, deletions or not.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path
from typing import Any

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.sandbox.knobs import PageMutation
from partnersync.sandbox.server import RunningSandbox, running_sandbox
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.registry import TASKS
from partnersync.tasks.runner import run_task

SWEPT_TASKS = ("sync_users", "sync_groups", "sync_courses")
LISTINGS = {"people": "person", "groups": "group", "courses": "course"}  # listing → record


def requests(sb: RunningSandbox) -> tuple[int, int]:
    """(all requests, confirmation lookups) since the counters were reset."""
    stats: dict[str, Any] = sb.stats()
    routes = stats["routes"]
    lookups = sum(routes.get(f"GET /v2/{name}/{{id}}", {}).get("total", 0) for name in LISTINGS)
    return int(stats["total"]), lookups


def full_runs(engine: Any, settings: Settings, sb: RunningSandbox) -> tuple[int, int, int]:
    sb.reset_counters()
    deleted = 0
    for task in SWEPT_TASKS:
        outcome = run_task(engine, settings, task, TASK_FUNCTIONS[task], mode="full")
        assert outcome.status == "success", (task, outcome.error)
        deleted += outcome.report.total("deleted")
    return (*requests(sb), deleted)


def delete_share(sb: RunningSandbox, share: float) -> int:
    ds, rng = sb.dataset, random.Random(7)
    count = 0
    for listing, record in LISTINGS.items():
        table = getattr(ds, listing)
        for record_id in rng.sample(sorted(table), max(1, int(len(table) * share))):
            getattr(ds, f"delete_{record}")(record_id)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="reference")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_sandbox(size=args.size, seed=1, rate_limit_per_second=None) as sb,
    ):
        engine = make_engine(f"sqlite:///{Path(scratch) / 'bench.db'}")
        migrate(engine, TASKS)
        settings = Settings(
            NORTHPASS_BASE_URL=sb.base_url,
            NORTHPASS_API_KEY=sb.northpass_key,
            NORTHPASS_RATE_PER_SECOND=1000,
            IMPARTNER_BASE_URL=sb.base_url,
            IMPARTNER_API_KEY=sb.impartner_key,
            IMPARTNER_TENANT_ID=sb.tenant_id,
            IMPARTNER_RATE_PER_SECOND=1000,
            PARTNERSYNC_ALLOW_MASS_DELETE=True,  # deleting "All Partners" is a real mass removal
        )
        run_task(engine, settings, "impartner_sync", TASK_FUNCTIONS["impartner_sync"], mode="full")
        full_runs(engine, settings, sb)  # the first load
        rows = []
        rows.append(("nothing changed", 0, *full_runs(engine, settings, sb)))
        removed = delete_share(sb, 0.01)
        rows.append(("1 % deleted between runs", removed, *full_runs(engine, settings, sb)))
        ds = sb.dataset
        during = {name: max(1, len(getattr(ds, name)) // 100) for name in LISTINGS}
        sb.set_knobs(
            page_mutations=tuple(
                PageMutation(name, after_page=1, action="delete", count=count)
                for name, count in during.items()
            )
        )
        rows.append(
            ("1 % deleted during the read", sum(during.values()), *full_runs(engine, settings, sb))
        )
        sb.set_knobs(page_mutations=())
        rows.append(("the next full run after that", 0, *full_runs(engine, settings, sb)))

    sizes = ", ".join(f"{name} {len(getattr(ds, name)):,}" for name in LISTINGS)
    print(f"size={args.size}: {sizes}")
    print("situation | deleted at the vendor | requests | lookups | extra | rows soft-deleted")
    for name, deleted, total, lookups, swept in rows:
        extra = lookups / (total - lookups) if total > lookups else 0.0
        print(f"{name} | {deleted:,} | {total:,} | {lookups:,} | {extra:.1%} | {swept:,}")


if __name__ == "__main__":
    main()
