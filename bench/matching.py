"""Group ↔ partner matching at production scale, without a database.

    python bench/matching.py [--size reference] [--repeat 5]

Matches the generated groups against the accounts (active ones linkable, as `sync_groups`
does), then a worst case where every group name is mangled so that no exact tier applies and
every group goes through the fuzzy tier. Prints the best wall time of `--repeat` runs and
the tier counts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

from partnersync.sandbox.generator import generate
from partnersync.sync.matching import MatchResult, match_groups_detailed


def best_of(repeat: int, work: Callable[[], MatchResult]) -> tuple[float, MatchResult]:
    timings = []
    result = work()
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - start)
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="reference")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ds = generate(args.size, seed=1)
    partners = [(a.Id, a.Name) for a in ds.accounts.values() if a.IsActive]
    inactive = [(a.Id, a.Name) for a in ds.accounts.values() if not a.IsActive]
    groups = [(g.id, g.name) for g in ds.groups.values()]
    mangled = [(group_id, name[:-1] + "zq") for group_id, name in groups]
    print(
        f"{len(groups)} groups x {len(partners) + len(inactive)} partners ({len(partners)} active)"
    )
    for label, candidates in (("generated names", groups), ("all fuzzy", mangled)):
        seconds, result = best_of(
            args.repeat,
            partial(match_groups_detailed, candidates, partners, unlinkable=inactive),
        )
        print(
            f"{label:>16}: {seconds * 1000:7.1f} ms  tiers {result.tiers()}  "
            f"ambiguous {len(result.ambiguous)}  of inactive partners {len(result.unlinkable)}"
        )


if __name__ == "__main__":
    main()
