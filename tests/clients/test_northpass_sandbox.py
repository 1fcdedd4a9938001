"""Northpass client against the sandbox over real HTTP, with its fault modes switched on."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterable
from typing import Any

import pytest
import stamina
from pydantic import SecretStr

from partnersync.clients import (
    ApiError,
    NorthpassClient,
    Page,
    RetriesExhausted,
    RetryPolicy,
    Skipped,
)
from partnersync.sandbox.server import RunningSandbox

from .conftest import FAULTY, northpass_settings


async def collect(pages: AsyncIterable[Page[Any]]) -> tuple[list[Any], list[Skipped]]:
    records: list[Any] = []
    skipped: list[Skipped] = []
    async for page in pages:
        records.extend(page.records)
        skipped.extend(page.skipped)
    return records, skipped


def ids(records: list[Any]) -> list[str]:
    return sorted(record.id for record in records)


def test_every_collection_is_exactly_complete_despite_429s_and_5xx(
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_knobs(**FAULTY)
    ds = sandbox.dataset

    async def scenario() -> NorthpassClient:
        async with NorthpassClient(northpass_settings(sandbox, page_size=7)) as np:
            people, bad_people = await collect(np.people())
            groups, _ = await collect(np.groups())
            courses, _ = await collect(np.courses())
            properties, _ = await collect(np.course_properties())
            assert ids(people) == sorted(ds.people) and not bad_people
            assert {p.id: p.email for p in people} == {
                pid: p.email.strip().lower() if p.email else None for pid, p in ds.people.items()
            }
            assert ids(groups) == sorted(ds.groups)
            assert ids(courses) == sorted(ds.courses)
            assert ids(properties) == sorted(
                cid for cid in ds.course_properties if cid not in ds.forbidden_property_ids
            )
            for group_id, members in ds.memberships.items():
                rows, skipped = await collect(np.group_memberships(group_id))
                assert sorted(r.person_id for r in rows) == sorted(members) and not skipped
            for course_id in ds.courses:
                rows, skipped = await collect(np.course_enrollments(course_id))
                expected = ds.enrollments.get(course_id, {})
                assert sorted(r.person_id for r in rows) == sorted(expected) and not skipped
        return np

    np = asyncio.run(scenario())
    assert np.stats.rate_limited > 0 and np.stats.retries > 0
    assert np.stats.failures == 0
    assert np.stats.requests == sandbox.stats()["total"]


def test_transcripts_fan_out_complete_with_malformed_items_counted(
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_knobs(**FAULTY)
    ds = sandbox.dataset

    async def scenario() -> list[Any]:
        settings = northpass_settings(sandbox, page_size=3, concurrency=6)
        async with NorthpassClient(settings) as np:
            return [result async for result in np.transcripts(sorted(ds.people))]

    results = asyncio.run(scenario())
    assert sorted(r.person_id for r in results) == sorted(ds.people)
    for result in results:
        got = [item.id for item in result.items] + [s.id for s in result.skipped]
        expected = [item.id for item in ds.transcripts.get(result.person_id, [])]
        assert sorted(got) == sorted(expected), result.person_id
        assert len(got) == len(set(got))
    skipped = [s for r in results for s in r.skipped]
    assert len(skipped) == 1 and "completed_at" in skipped[0].reason  # the planted bad date


@pytest.mark.parametrize("next_params", ["all", "drop_limit", "drop_filters"])
@pytest.mark.parametrize("last_next", ["omit", "null"])
@pytest.mark.parametrize("full_last_page_next", [False, True])
def test_links_next_variants_keep_a_filtered_query_exact(
    sandbox: RunningSandbox, next_params: str, last_next: str, full_last_page_next: bool
) -> None:
    sandbox.set_knobs(
        northpass_next_link_params=next_params,
        northpass_last_page_next=last_next,
        northpass_next_on_full_last_page=full_last_page_next,
    )
    people = sorted(sandbox.dataset.people.values(), key=lambda p: p.updated_at)
    # A cut-off that leaves a multiple of the page size, so the last page is exactly full.
    cut = next(
        k for k in range(16, len(people), 4) if people[k - 1].updated_at < people[k].updated_at
    )
    since = people[cut].updated_at
    expected = sorted(p.id for p in people[cut:])

    async def scenario() -> list[str]:
        # Page size 4 with a non-default sort: dropped `limit`/filters/sort would show at once.
        async with NorthpassClient(northpass_settings(sandbox, page_size=4)) as np:
            rows, _ = await collect(np.people(updated_since=since, sort="-email"))
        return [r.id for r in rows]

    got = asyncio.run(scenario())
    assert sorted(got) == expected and len(got) == len(set(got))
    emails = [sandbox.dataset.people[pid].email or "" for pid in got]
    assert emails == sorted(emails, reverse=True)


def test_timeouts_dropped_connections_and_truncated_bodies_are_retried(
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_knobs(
        fault_timeout_share=0.05,
        timeout_hang_seconds=1.0,
        fault_drop_share=0.1,
        fault_malformed_share=0.1,
        fault_seed=3,
    )

    async def scenario() -> tuple[list[Any], NorthpassClient]:
        async with NorthpassClient(northpass_settings(sandbox, page_size=5, timeout_s=0.3)) as np:
            rows, _ = await collect(np.people())
        return rows, np

    rows, np = asyncio.run(scenario())
    assert ids(rows) == sorted(sandbox.dataset.people)
    assert np.stats.retries > 0 and np.stats.failures == 0


def test_course_properties_one_by_one_skip_forbidden_courses(sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    forbidden = sorted(ds.forbidden_property_ids)

    async def scenario() -> list[Page[Any]]:
        async with NorthpassClient(northpass_settings(sandbox)) as np:
            return [await np.course_properties_for(cid) for cid in [*forbidden, *ds.courses]]

    pages = asyncio.run(scenario())
    assert [p.skipped[0].id for p in pages[: len(forbidden)]] == forbidden
    readable = {r.id: r.npcu_raw for p in pages for r in p.records}
    assert readable == {
        cid: props.get("npcu")
        for cid, props in ds.course_properties.items()
        if cid in ds.courses and cid not in ds.forbidden_property_ids
    }


def test_a_course_deleted_mid_sync_is_a_reported_skip(sandbox: RunningSandbox) -> None:
    async def scenario() -> tuple[list[Any], list[Skipped]]:
        async with NorthpassClient(northpass_settings(sandbox)) as np:
            return await collect(np.course_enrollments("no-such-course"))

    assert asyncio.run(scenario()) == (
        [],
        [Skipped("no-such-course", "course not found (HTTP 404)")],
    )


@pytest.mark.parametrize("nonmember_status", [204, 404])
def test_membership_writes_are_batched_and_idempotent(
    sandbox: RunningSandbox, nonmember_status: int
) -> None:
    sandbox.set_knobs(northpass_remove_nonmember_status=nonmember_status, **FAULTY)
    ds = sandbox.dataset
    group_id = sorted(ds.groups)[0]
    people = sorted(ds.people)

    async def scenario() -> None:
        async with NorthpassClient(northpass_settings(sandbox)) as np:
            added = await np.add_group_members(group_id, [*people, "ghost", *people])
            assert added.done == people
            assert added.failed and added.failed[0].id == "ghost"
            assert set(ds.memberships[group_id]) == set(people)
            again = await np.add_group_members(group_id, people[:3])
            assert again.done == people[:3] and not again.failed
            removed = await np.remove_group_members(group_id, people[:30])
            assert removed.done == people[:30] and not removed.failed
            assert set(ds.memberships[group_id]) == set(people[30:])
            mixed = await np.remove_group_members(group_id, people[28:32])  # 2 already gone
            assert mixed.done == people[28:32] and not mixed.failed
            assert set(ds.memberships[group_id]) == set(people[32:])

    asyncio.run(scenario())


def test_exhausted_retries_name_the_request_but_never_the_key(sandbox: RunningSandbox) -> None:
    sandbox.set_knobs(fault_5xx_share=1.0)
    policy = RetryPolicy(max_attempts=3, wait_initial_s=0.001, wait_max_s=0.001, wait_jitter_s=0)

    async def scenario() -> NorthpassClient:
        async with NorthpassClient(northpass_settings(sandbox, retry=policy)) as np:
            with pytest.raises(RetriesExhausted) as caught:
                await collect(np.people(updated_since=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
        message = str(caught.value)
        assert message.startswith("GET /v2/people?limit=100&filter[updated_at][gteq]=2024-01-01")
        assert "3 attempts" in message and "HTTP 5" in message
        assert sandbox.northpass_key not in message + repr(caught.value) + repr(np.settings)
        return np

    np = asyncio.run(scenario())
    assert (np.stats.requests, np.stats.retries, np.stats.failures) == (3, 2, 1)


def test_client_errors_are_not_retried(sandbox: RunningSandbox) -> None:
    async def scenario() -> NorthpassClient:
        settings = northpass_settings(sandbox, api_key=SecretStr("wrong-key"))
        async with NorthpassClient(settings) as np:
            with pytest.raises(ApiError) as caught:
                await collect(np.groups())
        assert caught.value.status == 401 and "GET /v2/groups?limit=100" in str(caught.value)
        assert "wrong-key" not in str(caught.value)
        return np

    np = asyncio.run(scenario())
    assert (np.stats.requests, np.stats.retries, np.stats.failures) == (1, 0, 1)


def test_retry_after_replaces_the_computed_backoff(sandbox: RunningSandbox) -> None:
    sandbox.set_knobs(fault_429_share=0.5, retry_after_seconds=3, fault_seed=1)
    waits: list[float] = []
    stamina.instrumentation.set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
    try:

        async def scenario() -> None:
            async with NorthpassClient(northpass_settings(sandbox, page_size=5)) as np:
                await collect(np.people())

        asyncio.run(scenario())
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)
    # 3 s asked, capped by the test policy's retry_after_max_s (0.01) – not the 1 ms backoff.
    assert waits and all(wait == pytest.approx(0.01) for wait in waits)
