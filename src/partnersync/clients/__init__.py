"""Northpass and Impartner API clients.

The clients are async (httpx). Sync code runs them in an event loop per run, e.g.::

    async def pull() -> None:
        async with NorthpassClient(settings) as northpass:
            async for page in northpass.people(updated_since=watermark):
                store(page.records)
                report_skips(page.skipped)

    asyncio.run(pull())
"""

from partnersync.clients.errors import ApiError, ClientError, RetriesExhausted
from partnersync.clients.fanout import fan_out
from partnersync.clients.impartner import PATCH_BATCH, ImpartnerClient, ItemOutcome, Listing
from partnersync.clients.northpass import NorthpassClient, TranscriptResult, WriteResult
from partnersync.clients.ratelimit import TokenBucket, shared_bucket
from partnersync.clients.records import (
    ImpartnerAccount,
    ImpartnerRegion,
    ImpartnerUser,
    NorthpassCourse,
    NorthpassCourseEnrollment,
    NorthpassCourseProperties,
    NorthpassGroup,
    NorthpassMembership,
    NorthpassPerson,
    TranscriptItem,
    parse_records,
)
from partnersync.clients.retry import RetryPolicy
from partnersync.clients.settings import ImpartnerSettings, NorthpassSettings
from partnersync.clients.transport import RequestStats
from partnersync.types import Page, Skipped

__all__ = [
    "PATCH_BATCH",
    "ApiError",
    "ClientError",
    "ImpartnerAccount",
    "ImpartnerClient",
    "ImpartnerRegion",
    "ImpartnerSettings",
    "ImpartnerUser",
    "ItemOutcome",
    "Listing",
    "NorthpassClient",
    "NorthpassCourse",
    "NorthpassCourseEnrollment",
    "NorthpassCourseProperties",
    "NorthpassGroup",
    "NorthpassMembership",
    "NorthpassPerson",
    "NorthpassSettings",
    "Page",
    "RequestStats",
    "RetriesExhausted",
    "RetryPolicy",
    "Skipped",
    "TokenBucket",
    "TranscriptItem",
    "TranscriptResult",
    "WriteResult",
    "fan_out",
    "parse_records",
    "shared_bucket",
]
