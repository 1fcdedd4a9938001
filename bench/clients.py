"""Benchmark: does the Northpass client use its whole request budget under a real rate limit?

Runs the sandbox with a 10 requests/s limit per key and 100 ms latency, then fans out 1,000
transcript requests (person ids cycled over the dataset) through a client whose budget is also
10 requests/s. Prints the achieved rate as a share of that budget, 429s, retries and failures.

    .venv/bin/python bench/clients.py [--requests 1000] [--rate 10] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import time

from pydantic import SecretStr

from partnersync.clients import NorthpassClient, NorthpassSettings
from partnersync.sandbox.server import running_sandbox


async def fan_out(base_url: str, key: str, person_ids: list[str], args: argparse.Namespace) -> None:
    settings = NorthpassSettings(
        base_url=base_url, api_key=SecretStr(key), rate_per_second=args.rate, concurrency=8
    )
    async with NorthpassClient(settings) as northpass:
        started = time.monotonic()
        people = 0
        async for _ in northpass.transcripts(person_ids):
            people += 1
        elapsed = time.monotonic() - started
    stats = northpass.stats
    achieved = stats.requests / elapsed
    print(f"transcripts fetched     {people}")
    print(
        f"requests sent           {stats.requests} (429s {stats.rate_limited}, "
        f"retries {stats.retries}, failures {stats.failures})"
    )
    print(f"elapsed                 {elapsed:.1f} s")
    print(
        f"achieved rate           {achieved:.2f} requests/s "
        f"= {100 * achieved / args.rate:.1f} % of the {args.rate:g}/s budget"
    )
    print(
        f"successful rate         {(stats.requests - stats.rate_limited) / elapsed:.2f} requests/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="transcripts to fetch")
    parser.add_argument("--rate", type=float, default=10.0, help="client budget and server limit")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    machine = f"{platform.platform()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    with running_sandbox(
        size="tiny", seed=1, rate_limit_per_second=args.rate, latency_ms=args.latency_ms
    ) as sb:
        ids = list(itertools.islice(itertools.cycle(sorted(sb.dataset.people)), args.requests))
        asyncio.run(fan_out(sb.base_url, sb.northpass_key, ids, args))
        print(f"sandbox counted         {sb.stats()['total']} requests")


if __name__ == "__main__":
    main()
