"""Realism knobs, the per-key rate limiter, fault injection and request counters.

Every knob can be set when the sandbox starts (`running_sandbox(**knobs)`), and changed while it
runs (`sb.set_knobs(...)` or `POST /_sandbox/knobs` with a JSON object of the same names).

General (both APIs)
    latency_ms              delay added before every API answer (default 0).
    rate_limit_per_second   token bucket per API key, separately per API; beyond it 429.
                            Northpass documents 10/s. None disables it.
    retry_after_seconds     when set, 429 answers carry `Retry-After` (whole seconds, rounded
                            up); the real Northpass sends none, so the default is None.
    fault_429_share         share of requests answered 429 regardless of the rate limit.
    fault_5xx_share         share answered 500/502/503/504 with an HTML body (as a proxy would).
    fault_timeout_share     share held open for `timeout_hang_seconds` before answering, long
                            enough for a client's timeout to fire first.
    fault_drop_share        share whose connection is dropped mid-body.
    fault_malformed_share   share answered 200 with a truncated JSON body.
    fault_path_prefix       faults hit only paths starting with this (default "": all API paths).
    fault_seed              seed of the fault dice, so a run is repeatable.
    timeout_hang_seconds    see fault_timeout_share (default 30).
    page_mutations          list of PageMutation (or dicts): after the N-th page request of a
                            listing, touch/insert/delete records so that later pages shift.
    late_changes            list of LateChange (or dicts): changes made *now* with an
                            `updated_at` `lag_seconds` in the past, visible in listings only
                            from the `after_requests`-th further request of that listing on
                            (a vendor transaction committing late, a lagging replica).

Northpass
    northpass_default_page_size   page size when `limit` is absent (real value unknown; 25).
    northpass_max_page_size       larger `limit` values are clamped to this (100).
    northpass_last_page_next      "omit" (documented: no `next` key on the last page) or "null".
    northpass_next_on_full_last_page  a last page that is exactly full still carries `next`,
                                  whose target answers `data: []`.
    northpass_next_link_params    "all" keeps the caller's parameters in `links.next`,
                                  "drop_limit" drops `limit` (as the doc example does),
                                  "drop_filters" drops `filter[...]` and `sort`.
    northpass_next_link_style     "absolute" (documented: `links.self/prev/next` are absolute
                                  URLs) or "relative" to the API root (`/v2/people?page=2`):
                                  clients differ in which they follow (unknown).
    northpass_page_zero           "error" (400) or "first_page": what `page=0`, which an older
                                  third-party client starts with, gets (unknown).
    northpass_meta                add `meta.total_count/total_pages` (real API: unverified).
    northpass_unknown_filter      "ignore" (Ransack's default: the filter is silently dropped)
                                  or "error" (400).
    northpass_duplicate_group     "existing" (vendor: creating a duplicate name returns the
                                  existing group) or "conflict" (409).
    northpass_remove_nonmember_status  204 (idempotent) or 404 when removing a non-member.
    northpass_ignored_filters     attributes whose `filter[...]` parameters are silently dropped,
                                  e.g. ["updated_at"]: an API that does not honour the
                                  change filter the incremental syncs rely on.
    northpass_people_omit         person attributes left out of every record, e.g.
                                  ["last_active_at"] (no published schema lists it).

Northpass webhooks (see sandbox/webhooks.py)
    webhook_subscriptions         list of WebhookSubscription (or dicts `{url, types}`), at most 10;
                                  every state change of a subscribed type is delivered, signed.
    webhook_secret                the school's shared secret the deliveries are signed with.
    webhook_paused                deliveries wait (the sent log already lists them).
    webhook_out_of_order          the newest waiting delivery goes first (with webhook_paused:
                                  a whole backlog arrives in reverse).
    webhook_duplicate_share       share of deliveries sent twice.
    webhook_bad_signature_share   share of deliveries signed with the wrong secret.
    webhook_drop_share            share of events delivered to nobody, yet in the sent log.
    webhook_unlogged_share        share of events delivered to nobody and not even logged.
    webhook_retry_seconds         wait before a failed delivery is tried again (vendor: 3600).
    webhook_retry_attempts        retries before every subscription is disabled (vendor: 24).
    webhook_log_days              how long the sent log keeps a record (vendor: 3 months).

Impartner
    impartner_timezone            tenant zone used to render `created`/`updated` (DST-aware).
    impartner_zoneless_literals   "tenant" or "utc": how `Updated > '2026-01-01T00:00:00'` is read.
    impartner_literal_offsets     "honour" or "ignore": whether a literal's own `Z`/offset counts,
                                  or is dropped so the literal is read as zone-less (unknown).
    impartner_default_take        page size when `take` is absent (10).
    impartner_max_take            largest accepted `take` (1000).
    impartner_take_over_max       "clamp" or "reject" a larger `take`.
    impartner_unstable_order      without `orderby`, return rows in a different order each time.
    impartner_list_default_fields "id" (a recorded list answer held only ids) or "all", when a
                                  list request names no `fields`.
    impartner_require_tenant      reject requests without `X-PRM-TenantId`.
    impartner_auth_failure_status 401, or 302 (redirect to a login page, as once observed).
    impartner_error_status        HTTP status of `success: false` answers to bad queries (400;
                                  200 mimics an API that reports errors only in the body).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

MutationAction = Literal["touch", "insert", "delete"]
MUTABLE_LISTINGS = ("people", "groups", "courses", "Account", "User")


@dataclass(frozen=True)
class PageMutation:
    """After the `after_page`-th page request of `listing`, change `count` records once.

    Listings: Northpass "people", "groups", "courses"; Impartner "Account", "User".
    "touch" bumps the update time of the oldest records (moving them into an incremental window
    ahead of the cursor), "insert" adds new records, "delete" removes the first records in
    default order (shifting later rows back by `count`).
    """

    listing: str
    after_page: int
    action: MutationAction
    count: int = 1

    def __post_init__(self) -> None:
        if self.listing not in MUTABLE_LISTINGS:
            raise ValueError(f"page mutations exist only for {', '.join(MUTABLE_LISTINGS)}")
        if self.action not in ("touch", "insert", "delete"):
            raise ValueError("a page mutation's action is touch, insert or delete")


@dataclass(frozen=True)
class LateChange:
    """`count` records of `listing` touched (a field changed) or inserted, stamped `lag_seconds`
    before the moment the knob is set, and hidden from listings for `after_requests` requests.

    Listings: Northpass "people", "groups", "courses"; Impartner "Account", "User". The touched
    records are the oldest ones, outside any incremental window until touched.
    """

    listing: str
    action: Literal["touch", "insert"] = "touch"
    count: int = 1
    lag_seconds: float = 60.0
    after_requests: int = 1

    def __post_init__(self) -> None:
        if self.listing not in MUTABLE_LISTINGS:
            raise ValueError(f"late changes exist only for {', '.join(MUTABLE_LISTINGS)}")
        if self.action not in ("touch", "insert"):
            raise ValueError("a late change's action is touch or insert")
        if self.count < 1 or self.after_requests < 1 or self.lag_seconds < 0:
            raise ValueError("a late change needs count >= 1, after_requests >= 1, lag >= 0")


WEBHOOK_MAX_SUBSCRIPTIONS = 10


@dataclass(frozen=True)
class WebhookSubscription:
    """A school's webhook subscription: where to deliver, and which event types."""

    url: str
    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")) or not self.types:
            raise ValueError("a webhook subscription needs an http(s) url and event types")
        object.__setattr__(self, "types", tuple(self.types))


@dataclass(frozen=True)
class Knobs:
    """The realism knobs; see the module docstring for what each one does."""

    latency_ms: float = 0.0
    rate_limit_per_second: float | None = 10.0
    retry_after_seconds: float | None = None
    fault_429_share: float = 0.0
    fault_5xx_share: float = 0.0
    fault_timeout_share: float = 0.0
    fault_drop_share: float = 0.0
    fault_malformed_share: float = 0.0
    fault_path_prefix: str = ""
    fault_seed: int = 0
    timeout_hang_seconds: float = 30.0
    page_mutations: tuple[PageMutation, ...] = ()
    late_changes: tuple[LateChange, ...] = ()

    northpass_default_page_size: int = 25
    northpass_max_page_size: int = 100
    northpass_last_page_next: Literal["omit", "null"] = "omit"
    northpass_next_on_full_last_page: bool = False
    northpass_next_link_params: Literal["all", "drop_limit", "drop_filters"] = "all"
    northpass_next_link_style: Literal["absolute", "relative"] = "absolute"
    northpass_page_zero: Literal["error", "first_page"] = "error"
    northpass_meta: bool = False
    northpass_unknown_filter: Literal["ignore", "error"] = "ignore"
    northpass_duplicate_group: Literal["existing", "conflict"] = "existing"
    northpass_remove_nonmember_status: int = 204
    northpass_ignored_filters: tuple[str, ...] = ()
    northpass_people_omit: tuple[str, ...] = ()

    webhook_subscriptions: tuple[WebhookSubscription, ...] = ()
    webhook_secret: str = "np-webhook-secret"
    webhook_paused: bool = False
    webhook_out_of_order: bool = False
    webhook_duplicate_share: float = 0.0
    webhook_bad_signature_share: float = 0.0
    webhook_drop_share: float = 0.0
    webhook_unlogged_share: float = 0.0
    webhook_retry_seconds: float = 3600.0
    webhook_retry_attempts: int = 24
    webhook_log_days: int = 91

    impartner_timezone: str = "America/Denver"
    impartner_zoneless_literals: Literal["tenant", "utc"] = "tenant"
    impartner_literal_offsets: Literal["honour", "ignore"] = "honour"
    impartner_default_take: int = 10
    impartner_max_take: int = 1000
    impartner_take_over_max: Literal["clamp", "reject"] = "clamp"
    impartner_unstable_order: bool = False
    impartner_list_default_fields: Literal["id", "all"] = "id"
    impartner_require_tenant: bool = False
    impartner_auth_failure_status: int = 401
    impartner_error_status: int = 400

    def updated(self, **changes: Any) -> Knobs:
        """A copy with `changes` applied; unknown names raise TypeError, mutations may be dicts."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown knob(s): {', '.join(unknown)}")
        if "page_mutations" in changes:
            changes["page_mutations"] = tuple(
                m if isinstance(m, PageMutation) else PageMutation(**m)
                for m in changes["page_mutations"]
            )
        if "late_changes" in changes:
            changes["late_changes"] = tuple(
                c if isinstance(c, LateChange) else LateChange(**c) for c in changes["late_changes"]
            )
        if "webhook_subscriptions" in changes:
            subscriptions = tuple(
                s if isinstance(s, WebhookSubscription) else WebhookSubscription(**s)
                for s in changes["webhook_subscriptions"]
            )
            if len(subscriptions) > WEBHOOK_MAX_SUBSCRIPTIONS:
                raise ValueError(f"at most {WEBHOOK_MAX_SUBSCRIPTIONS} webhook subscriptions")
            changes["webhook_subscriptions"] = subscriptions
        for name in ("northpass_ignored_filters", "northpass_people_omit"):
            if name in changes:
                changes[name] = tuple(changes[name])
        return dataclasses.replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TokenBucket:
    """Allows `rate` requests per second with bursts of up to `rate` requests."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RateLimiter:
    """One bucket per (API, key); rebuilt whenever the configured rate changes."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def allow(self, api: str, key: str, rate: float | None) -> bool:
        if rate is None:
            return True
        bucket = self._buckets.get((api, key))
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[(api, key)] = TokenBucket(rate)
        return bucket.allow()


class Fault(Enum):
    TOO_MANY_REQUESTS = "429"
    SERVER_ERROR = "5xx"
    TIMEOUT = "timeout"
    DROP = "drop"
    MALFORMED = "malformed"


class FaultDice:
    """Picks at most one fault per request from the configured shares, repeatably."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        self.rng.seed(seed)

    def roll(self, knobs: Knobs, path: str) -> Fault | None:
        if not path.startswith(knobs.fault_path_prefix):
            return None
        shares = (
            (Fault.TOO_MANY_REQUESTS, knobs.fault_429_share),
            (Fault.SERVER_ERROR, knobs.fault_5xx_share),
            (Fault.TIMEOUT, knobs.fault_timeout_share),
            (Fault.DROP, knobs.fault_drop_share),
            (Fault.MALFORMED, knobs.fault_malformed_share),
        )
        if not any(share for _, share in shares):
            return None
        point = self.rng.random()
        for fault, share in shares:
            if point < share:
                return fault
            point -= share
        return None

    def server_error_status(self) -> int:
        return self.rng.choice((500, 502, 503, 504))


@dataclass
class Counters:
    """Requests per route template and answer status ("timeout"/"dropped" for those faults),
    and when each authenticated request arrived, per API (the budget benchmark's evidence of
    how many requests one key sent in any one second)."""

    routes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrived(self, api: str, at: float) -> None:
        with self.lock:
            self.arrivals[api].append(at)

    def arrival_times(self, api: str) -> list[float]:
        with self.lock:
            return list(self.arrivals.get(api, ()))

    def busiest_second(self, api: str) -> int:
        return busiest_second(self.arrival_times(api))

    def record(self, route: str, status: str) -> None:
        with self.lock:
            by_status = self.routes[route]
            by_status[status] = by_status.get(status, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            routes = {
                route: {"total": sum(by_status.values()), "by_status": dict(by_status)}
                for route, by_status in sorted(self.routes.items())
            }
        return {"total": sum(r["total"] for r in routes.values()), "routes": routes}

    def reset(self) -> None:
        with self.lock:
            self.routes.clear()
            self.arrivals.clear()


def busiest_second(times: Iterable[float]) -> int:
    """The most of these instants within any one second (a sliding window)."""
    ordered = sorted(times)
    busiest, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


@dataclass
class PendingChange:
    """A late change waiting to become visible: its stamp and the requests still to pass."""

    change: LateChange
    stamp: datetime
    requests_left: int


class PageHooks:
    """Counts page requests per listing and says which mutations are due after each one, and
    which late changes become visible before it."""

    def __init__(self) -> None:
        self.pages: dict[str, int] = defaultdict(int)
        self.pending: list[PendingChange] = []

    def reset(self) -> None:
        self.pages.clear()

    def schedule(self, changes: tuple[LateChange, ...], now: datetime) -> None:
        self.pending += [
            PendingChange(c, now - timedelta(seconds=c.lag_seconds), c.after_requests)
            for c in changes
        ]

    def visible_now(self, listing: str) -> list[PendingChange]:
        """Called before a listing is computed: the late changes that are due from this one."""
        due = []
        for pending in [p for p in self.pending if p.change.listing == listing]:
            pending.requests_left -= 1
            if pending.requests_left <= 0:
                due.append(pending)
                self.pending.remove(pending)
        return due

    def after_page(self, knobs: Knobs, listing: str) -> list[PageMutation]:
        self.pages[listing] += 1
        served = self.pages[listing]
        return [m for m in knobs.page_mutations if m.listing == listing and m.after_page == served]
