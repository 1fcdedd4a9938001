"""Bounded fan-out: run one coroutine per item with a fixed number in flight."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def fan_out(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int
) -> AsyncIterator[R]:
    """Yield `work(item)` results in completion order, never more than `limit` running.

    Items are drawn lazily, so thousands of ids cost `limit` tasks at a time. The first failure
    propagates after the remaining tasks are cancelled.
    """
    pending_items = iter(items)
    running: set[asyncio.Future[R]] = set()

    def start(count: int) -> None:
        for item in itertools.islice(pending_items, count):
            running.add(asyncio.ensure_future(work(item)))

    start(limit)
    try:
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running.difference_update(done)
            start(len(done))
            for task in done:
                yield task.result()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
