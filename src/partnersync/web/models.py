"""Request and response bodies: typed, so the published OpenAPI document is precise."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from partnersync.types import (
    AccessAction,
    MembershipSource,
    Mode,
    OutcomeStatus,
    RunStatus,
    SuggestionStatus,
    TaskStatus,
)

RUN_ACCESS_CHANGES = 200
"""How many of a run's membership writes its detail lists."""

MAX_ID = 2**31 - 1
"""Ids are INT columns: anything larger cannot name a row (and must not reach the driver)."""
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_INTERVAL_MINUTES = 43_200
"""30 days: longer than any sensible schedule, short enough to catch a unit mistake."""


class Problem(BaseModel):
    detail: str


class Invalid(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    detail: list[Invalid]


class Progress(BaseModel):
    """What a running task last reported: a stage and how far it got (total unknown: null)."""

    stage: str | None = None
    done: int | None = None
    total: int | None = None


class RunSummary(BaseModel):
    id: int
    task: str
    status: RunStatus
    mode: Mode
    trigger: str
    owner: str | None
    started_at: datetime
    completed_at: datetime | None
    duration_seconds: float | None
    records_processed: int
    records_created: int
    records_updated: int
    records_deleted: int
    records_failed: int
    api_requests: int
    error_message: str | None


class ApiStats(BaseModel):
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    failures: int = 0


class StreamStats(BaseModel):
    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    failure_examples: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class SyncLog(RunSummary):
    """One run from `sync_logs`, with per-stream and per-API detail; live progress if running."""

    streams: dict[str, StreamStats] = Field(default_factory=dict)
    api: dict[str, ApiStats] = Field(default_factory=dict)
    progress: Progress | None = None


class TaskState(BaseModel):
    name: str
    description: str
    runnable: bool = Field(description="this process has the task's code and can run it")
    enabled: bool
    interval_minutes: int
    status: TaskStatus
    last_status: OutcomeStatus | None
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    lease_owner: str | None
    heartbeat_at: datetime | None
    running_log_id: int | None = Field(description="the sync_logs id of the run going on now")
    progress: Progress | None
    last_run: RunSummary | None = Field(description="the latest finished run")


def _no_nulls(data: Any) -> Any:
    """An explicit null is refused: leave a field out to keep its value."""
    if isinstance(data, dict) and any(value is None for value in data.values()):
        raise ValueError("null is not a value here; leave the field out instead")
    return data


class TaskPatch(BaseModel):
    """Change the schedule of a task; give at least one field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    enabled: bool | SkipJsonSchema[None] = None
    interval_minutes: (
        Annotated[int, Field(ge=1, le=MAX_INTERVAL_MINUTES)] | SkipJsonSchema[None]
    ) = None

    _nulls = model_validator(mode="before")(_no_nulls)

    @model_validator(mode="after")
    def _something(self) -> TaskPatch:
        if self.enabled is None and self.interval_minutes is None:
            raise ValueError("give enabled and/or interval_minutes")
        return self


class RunStarted(BaseModel):
    run_id: int = Field(description="the sync_logs id; follow it at /api/sync-logs/{run_id}")
    task: str
    mode: Mode
    status: Literal["running"] = "running"


class RunPoint(BaseModel):
    """One finished run, reduced to what the per-task charts draw."""

    id: int
    status: RunStatus
    started_at: datetime
    duration_seconds: float | None
    records_processed: int
    records_written: int = Field(description="created + updated + deleted")
    records_failed: int


class KeyBudget(BaseModel):
    """One API key's shared budget now (the key itself is never shown, only a hash)."""

    key_id: str
    budget_per_second: float = Field(
        description="what every process using the key may send together now"
    )
    consumers: int = Field(description="processes using the key now")
    requests_per_second: float = Field(description="what they sent over their last heartbeat")
    requests: int = Field(description="requests counted under this budget since it was created")
    rate_limited: int = Field(description="429 answers among them")
    updated_at: datetime


class ApiUsage(BaseModel):
    name: str
    budget_per_second: float = Field(description="the configured starting budget per key")
    ceiling_per_second: float = Field(
        description="the budget may rise to this while no 429 is seen"
    )
    keys: list[KeyBudget] = Field(default_factory=list, description="the shared budgets now")
    page_size: int
    concurrency: int | None
    runs: int = Field(description="finished runs in the window that used this API")
    requests: int
    rate_limited: int
    retries: int
    failures: int


class ApiUsageReport(BaseModel):
    since: datetime
    apis: list[ApiUsage]


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: bool
    scheduler: Literal["ok", "starting", "stale", "absent"]
    scheduler_heartbeat_age_seconds: float | None


class WebhookStatus(BaseModel):
    configured: bool
    """NORTHPASS_WEBHOOK_SECRET is set: the receiver accepts deliveries."""
    last_delivery_at: datetime | None
    pending: int
    """Events in the inbox not yet processed."""
    problem: str | None
    """The watchdog's finding: deliveries seem to have stopped (README, "Real-time updates")."""


class GroupLink(BaseModel):
    group_id: str
    group_name: str
    partner_id: int | None
    partner_name: str | None
    impartner_id: int | None
    link: Literal["auto", "manual"] | None


class LinkRequest(BaseModel):
    """The partner to link: its `partners.id` or its Impartner account id (exactly one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    partner_id: RowId | SkipJsonSchema[None] = None
    impartner_id: RowId | SkipJsonSchema[None] = None

    _nulls = model_validator(mode="before")(_no_nulls)

    @model_validator(mode="after")
    def _exactly_one(self) -> LinkRequest:
        if (self.partner_id is None) == (self.impartner_id is None):
            raise ValueError("give either partner_id or impartner_id")
        return self


class PartnerItem(BaseModel):
    """A partner's line in the partner view (`sync/partner_view.py` says what each means)."""

    id: int
    impartner_id: int
    name: str | None
    tier: str | None
    is_active: bool
    certification_count: int
    total_npcu: int
    partner_users: int
    certified_users: int
    expiring_90d: int
    group_ids: list[str]
    last_pushed_at: datetime | None
    pushed_certification_count: int | None
    pushed_total_npcu: int | None
    crm_certification_count: int | None
    crm_total_npcu: int | None
    crm_read_at: datetime | None
    drift: bool


class PartnerPage(BaseModel):
    items: list[PartnerItem]
    total: int


class CertificationItem(BaseModel):
    course_id: str
    course_name: str | None
    npcu_value: int
    completed_at: datetime | None
    expires_at: datetime | None
    counted: bool
    not_counted_reason: str | None
    course_retired: bool


class PartnerUserItem(BaseModel):
    lms_user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    membership: Literal["group", "contact", "both"]
    certifications: list[CertificationItem]


class PartnerDetail(PartnerItem):
    users: list[PartnerUserItem]


class SnapshotItem(BaseModel):
    day: date
    certification_count: int
    total_npcu: int
    certified_users: int
    partner_users: int
    expiring_90d: int


class ExpiringItem(BaseModel):
    partner_id: int
    partner_name: str | None
    lms_user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    course_id: str
    course_name: str | None
    npcu_value: int
    expires_at: datetime


class Suggestion(BaseModel):
    id: int
    run_id: int
    group_id: str
    group_name: str | None
    user_id: str
    email: str | None
    email_domain: str | None
    reason: str = Field(
        description="`contact` (an active contact of the group's partner), `domain` (the "
        "partner's contacts use it) or `configured_domain`"
    )
    evidence: str | None = Field(
        description="which contact, or why the domain counts for the group, e.g. "
        "'3 of 4 active contacts of Cedar Works use cedarworks.com'; null on older rows"
    )
    status: SuggestionStatus


class SuggestionPage(BaseModel):
    run_id: int | None = Field(description="the analysis run listed (default: the latest)")
    total: int = Field(description="matching suggestions, of which `suggestions` holds the first")
    suggestions: list[Suggestion]


class SuggestionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowId] = Field(min_length=1, max_length=1000)


class Decision(BaseModel):
    done: list[int]
    already: list[int] = Field(description="accepted, but the user was a member already")
    not_open: list[int] = Field(description="accepted or dismissed before; left as they were")


class AccessChange(BaseModel):
    """One membership write to Northpass, as the audit trail recorded it."""

    id: int
    at: datetime = Field(description="when the vendor answered")
    run_id: int | None = Field(description="the sync_logs id of the run that wrote")
    action: AccessAction
    group_id: str
    group_name: str | None
    user_id: str
    email: str | None
    partner_id: int | None = Field(description="the partner whose change caused it, if known")
    source: MembershipSource = Field(description="who had put the member there")
    decided_by: Literal["partnersync", "operator"] = Field(
        description="`partnersync` (automatic) or `operator` (an accepted suggestion)"
    )
    cause: str = Field(
        description="`contact` or `suggestion` (an add); `contact_inactive`, `contact_deleted`, "
        "`partner_inactive` or `partner_deleted` (a removal)"
    )
    reason: str = Field(description="which contact or partner change, and since when")
    outcome: Literal["done", "failed"]
    answer: str = Field(description="the vendor's answer, in one line")


class AccessAuditPage(BaseModel):
    items: list[AccessChange]
    total: int = Field(description="matching writes, of which `items` holds one page")


class RunDetail(SyncLog):
    """One run, whole (`GET /api/sync-logs/{run_id}`, `history --id`)."""

    access_changes: list[AccessChange] = Field(
        default_factory=list,
        description="its membership writes to Northpass, newest first "
        f"(at most {RUN_ACCESS_CHANGES})",
    )
    access_changes_total: int = Field(0, description="all of them; the rest at /api/access/audit")
