"""One process using a Northpass key under the shared budget: `python -m tests.budget.worker
DATABASE_URL BASE_URL KEY REQUESTS RATE CEILING` sends REQUESTS list calls and prints its
request counters as JSON. The tests start several at once to share one key."""

from __future__ import annotations

import asyncio
import json
import sys

from pydantic import SecretStr

from partnersync.budget.coordinator import shared_limiter
from partnersync.clients import NorthpassClient
from partnersync.clients.retry import RetryPolicy
from partnersync.clients.settings import NorthpassSettings
from partnersync.db.engine import make_engine


async def main(
    database_url: str, base_url: str, key: str, requests: int, rate: float, ceiling: float
) -> None:
    engine = make_engine(database_url)
    settings = NorthpassSettings(
        base_url=base_url,
        api_key=SecretStr(key),
        rate_per_second=rate,
        rate_ceiling=ceiling,
        concurrency=8,
        retry=RetryPolicy(max_attempts=30, wait_initial_s=0.05, wait_max_s=1.0, wait_jitter_s=0.05),
    )
    limiter = shared_limiter(engine, "northpass", settings, interval=0.25)
    async with NorthpassClient(settings, limiter=limiter) as client:
        await asyncio.gather(
            *(client.get("/v2/courses", [("limit", "1")]) for _ in range(requests))
        )
    print(json.dumps(client.stats.as_dict()))
    engine.dispose()


if __name__ == "__main__":
    url, base, key, count, rate, ceiling = sys.argv[1:7]
    asyncio.run(main(url, base, key, int(count), float(rate), float(ceiling)))
