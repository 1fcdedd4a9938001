"""What both vendors' probes share: the first request, which tells whether the vendor answers
and accepts the key, and stopping the rest of the checklist when a later request fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from partnersync.clients.errors import ApiError, ClientError, RetriesExhausted
from partnersync.clients.session import ApiClient
from partnersync.doctor.report import Checklist

T = TypeVar("T")


@dataclass(frozen=True)
class Vendor:
    label: str  # "Northpass"
    checks: Sequence[str]  # the vendor's check names, the key check first
    settings_prefix: str  # "NORTHPASS"
    key_refusals: frozenset[int]  # statuses that mean the key (or tenant) was refused
    key_fix: str


async def first_answer(
    vendor: Vendor, client: ApiClient, base_url: str, checks: Checklist, request: Awaitable[T]
) -> T | None:
    """The first request's answer, with the key check recorded; None (rest skipped) if it
    failed."""
    key, rest = vendor.checks[0], list(vendor.checks[1:])
    try:
        answer = await request
    except ApiError as exc:
        refused = exc.status in vendor.key_refusals
        checks.add(
            key,
            "fail",
            f"{vendor.label} {'refused the key' if refused else 'answered'} HTTP {exc.status}: "
            f"{exc.detail}",
            vendor.key_fix if refused else f"check {vendor.settings_prefix}_BASE_URL",
        )
        checks.skip_rest(rest, f"{vendor.label} did not accept the first request")
        return None
    except RetriesExhausted as exc:
        checks.add(
            key,
            "fail",
            f"{vendor.label} at {base_url} did not answer ({exc.cause})",
            f"check {vendor.settings_prefix}_BASE_URL and that this host may reach it",
        )
        checks.skip_rest(rest, f"{vendor.label} did not answer")
        return None
    checks.add(key, "ok", f"{base_url} answered and accepted the key")
    return answer


async def probe_all(
    vendor: Vendor, client: ApiClient, probes: Callable[[Checklist], Awaitable[Any]]
) -> Checklist:
    """Run `probes`; a request that fails later fails the next check and skips the rest."""
    checks = Checklist()
    async with client:
        try:
            await probes(checks)
        except ClientError as exc:
            done = {check.name for check in checks.checks}
            pending = [name for name in vendor.checks if name not in done]
            checks.add(pending[0], "fail", f"{vendor.label} stopped answering: {exc}")
            checks.skip_rest(pending[1:], f"an earlier {vendor.label} request failed")
        checks.requests[vendor.label.lower()] = client.stats.requests
    return checks
