"""Typed settings, read once from the environment (and `.env`) and passed down.

Nothing below this module reads the environment: layers receive a `Settings`
object (or the small per-client settings derived from it). A missing or malformed
setting fails at start with `ConfigError`, which names the variable but never
echoes its value, so a secret cannot leak through an error message.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, quote_plus

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from partnersync.clients.retry import RetryPolicy
from partnersync.clients.settings import ImpartnerSettings, NorthpassSettings
from partnersync.domain import CRM_OWNED_FIELDS, PUBLIC_EMAIL_DOMAINS
from partnersync.types import SuggestionReason

SUPPORTED_BACKENDS = ("sqlite", "mysql", "mariadb")
MIN_TOKEN_CHARS = 16


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


Names = Annotated[tuple[str, ...], NoDecode]
"""A list setting, written in the environment as comma-separated names."""


def _env(name: str, default: Any, description: str, **constraints: Any) -> Any:
    return Field(default, validation_alias=name, description=description, **constraints)


@dataclass(frozen=True)
class NorthpassConfig:
    """The Northpass settings, grouped (a view of the flat fields, whose environment names are
    the contract and whose defaults are written once, there)."""

    base_url: str
    api_key: SecretStr | None
    rate_per_second: float
    rate_ceiling: float
    page_size: int
    concurrency: int


@dataclass(frozen=True)
class ImpartnerConfig:
    """The Impartner settings, grouped (a view of the flat fields)."""

    base_url: str
    api_key: SecretStr | None
    tenant_id: int
    rate_per_second: float
    rate_ceiling: float
    page_size: int
    filter_margin_hours: int


class Settings(BaseSettings):
    """Every setting partnersync reads, with its environment variable and a safe default."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=False,
        allow_inf_nan=False,  # `inf` or `nan` for a rate or a timeout is a typo, not a choice
    )

    database_url: SecretStr = _env(
        "PARTNERSYNC_DATABASE_URL",
        SecretStr("sqlite:///partnersync.db"),
        "SQLAlchemy database URL (a secret: it may carry the password)",
    )
    api_token: SecretStr | None = _env(
        "PARTNERSYNC_API_TOKEN",
        None,
        f"bearer token required by the HTTP API (at least {MIN_TOKEN_CHARS} characters)",
    )
    http_host: str = _env(
        "PARTNERSYNC_HTTP_HOST", "127.0.0.1", "address `partnersync serve` listens on", min_length=1
    )
    http_port: int = _env(
        "PARTNERSYNC_HTTP_PORT", 8080, "port of the HTTP API and dashboard", ge=0, le=65535
    )

    northpass_base_url: str = _env(
        "NORTHPASS_BASE_URL", "https://api.northpass.com", "Northpass API root (paths /v2/...)"
    )
    northpass_api_key: SecretStr | None = _env(
        "NORTHPASS_API_KEY", None, "Northpass key, sent as X-Api-Key"
    )
    northpass_rate_per_second: float = _env(
        "NORTHPASS_RATE_PER_SECOND",
        8.0,
        "starting request budget per second for the key, shared by every process using it",
        ge=0.1,
        le=1000,
    )
    northpass_rate_ceiling: float = _env(
        "NORTHPASS_RATE_CEILING",
        10.0,
        "the vendor's limit per key: the budget rises toward it while no 429 is seen",
        ge=0.1,
        le=1000,
    )
    northpass_page_size: int = _env(
        "NORTHPASS_PAGE_SIZE", 100, "records per Northpass list page", ge=1, le=1000
    )
    northpass_concurrency: int = _env(
        "NORTHPASS_CONCURRENCY", 8, "parallel requests for per-user fan-out", ge=1, le=64
    )

    impartner_base_url: str = _env(
        "IMPARTNER_BASE_URL",
        "https://prod.impartner.live",
        "Impartner API root (paths /api/objects/v1/...)",
    )
    impartner_api_key: SecretStr | None = _env(
        "IMPARTNER_API_KEY", None, "Impartner key, sent as 'Authorization: prm-key <key>'"
    )
    impartner_tenant_id: int = _env("IMPARTNER_TENANT_ID", 1, "sent as X-PRM-TenantId", ge=1)
    impartner_rate_per_second: float = _env(
        "IMPARTNER_RATE_PER_SECOND",
        5.0,
        "starting request budget per second for the key, shared by every process using it",
        ge=0.1,
        le=1000,
    )
    impartner_rate_ceiling: float | None = _env(
        "IMPARTNER_RATE_CEILING",
        None,
        "the budget may rise toward this while no 429 is seen (unset: the vendor publishes no "
        "limit, so the budget stays at IMPARTNER_RATE_PER_SECOND)",
        ge=0.1,
        le=1000,
    )
    impartner_page_size: int = _env(
        "IMPARTNER_PAGE_SIZE", 500, "records per Impartner page (take)", ge=1, le=1000
    )
    impartner_filter_margin_hours: int = _env(
        "IMPARTNER_FILTER_MARGIN_HOURS",
        14,
        "incremental Impartner reads start this much earlier, in case the API reads the UTC "
        "filter literal in the tenant's zone (14 covers every zone)",
        ge=0,
        le=48,
    )
    impartner_excluded_tiers: Names = _env(
        "IMPARTNER_EXCLUDED_TIERS",
        ("Pending",),
        "accounts with one of these tiers (case-insensitive) are stored as inactive partners",
    )
    impartner_excluded_statuses: Names = _env(
        "IMPARTNER_EXCLUDED_STATUSES",
        ("Inactive",),
        "accounts with one of these statuses (case-insensitive) are stored as inactive partners",
    )
    impartner_contact_excluded_domains: Names = _env(
        "IMPARTNER_CONTACT_EXCLUDED_DOMAINS",
        (),
        "users whose email domain is exactly one of these are stored as inactive contacts",
    )
    impartner_contact_excluded_local_tokens: Names = _env(
        "IMPARTNER_CONTACT_EXCLUDED_LOCAL_TOKENS",
        (),
        "users whose email local part, split on . - _ +, holds one of these whole words "
        "are stored as inactive contacts",
    )

    http_timeout_seconds: float = _env(
        "PARTNERSYNC_HTTP_TIMEOUT_SECONDS", 30.0, "connect/read timeout per request", ge=0.1, le=600
    )
    http_max_attempts: int = _env(
        "PARTNERSYNC_HTTP_MAX_ATTEMPTS", 6, "attempts per request before a run fails", ge=1, le=50
    )
    shared_budget: bool = _env(
        "PARTNERSYNC_SHARED_BUDGET",
        True,
        "processes using one API key share its budget through the database (false: each "
        "process keeps the whole configured rate to itself)",
    )
    budget_heartbeat_seconds: float = _env(
        "PARTNERSYNC_BUDGET_HEARTBEAT_SECONDS",
        0.5,
        "how often a process using an API key reports to the shared budget and takes its "
        "share; a process silent for six heartbeats drops out",
        ge=0.05,
        le=60,
    )
    watermark_overlap_seconds: int = _env(
        "PARTNERSYNC_WATERMARK_OVERLAP_SECONDS",
        300,
        "incremental runs re-read this much before the watermark",
        ge=0,
        le=7 * 86400,
    )
    sweep_max_share: float = _env(
        "PARTNERSYNC_SWEEP_MAX_SHARE",
        0.2,
        "a run refuses to soft-delete more than this share of a table's active rows",
        ge=0,
        le=1,
    )
    allow_mass_delete: bool = _env(
        "PARTNERSYNC_ALLOW_MASS_DELETE",
        False,
        "lifts the sweep guard (prefer `sync TASK --allow-mass-delete` for one run)",
    )

    offboard_grace_hours: int = _env(
        "PARTNERSYNC_OFFBOARD_GRACE_HOURS",
        24,
        "a contact or partner stored inactive or deleted for this long loses its Northpass "
        "memberships; re-activated before, nothing is removed",
        ge=0,
        le=24 * 365,
    )
    offboard_manual_memberships: bool = _env(
        "PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS",
        False,
        "offboarding also removes memberships added outside partnersync (false: only those "
        "partnersync added)",
    )
    access_all_partners: bool = _env(
        "PARTNERSYNC_ACCESS_ALL_PARTNERS",
        False,
        'an active contact of an active partner is also provisioned into "All Partners"',
    )
    access_auto_accept: Annotated[tuple[SuggestionReason, ...], NoDecode] = _env(
        "PARTNERSYNC_ACCESS_AUTO_ACCEPT",
        ("contact",),
        "comma-separated suggestion reasons (contact, domain, configured_domain) that become "
        "pending memberships without an operator's acceptance",
    )

    full_sync_every_hours: int = _env(
        "PARTNERSYNC_FULL_SYNC_EVERY_HOURS",
        24,
        "the scheduler runs a task in full mode when its last successful full run is older "
        "(0: scheduled runs are always incremental)",
        ge=0,
        le=24 * 365,
    )
    lease_seconds: int = _env(
        "PARTNERSYNC_LEASE_SECONDS",
        90,
        "a task's lease lasts this long without a heartbeat (renewed every third)",
        ge=3,
        le=86400,
    )
    scheduler_tick_seconds: float = _env(
        "PARTNERSYNC_SCHEDULER_TICK_SECONDS",
        15.0,
        "how often the scheduler looks for due tasks and expired leases",
        ge=0.01,
        le=3600,
    )
    max_concurrent_runs: int = _env(
        "PARTNERSYNC_MAX_CONCURRENT_RUNS",
        2,
        "runs one scheduler process starts at a time",
        ge=1,
        le=10,
    )
    shutdown_grace_seconds: float = _env(
        "PARTNERSYNC_SHUTDOWN_GRACE_SECONDS",
        300.0,
        "on SIGTERM, running runs get this long to finish before they are stopped as failed",
        ge=0,
        le=86400,
    )
    http_max_body_bytes: int = _env(
        "PARTNERSYNC_HTTP_MAX_BODY_BYTES",
        1024 * 1024,
        "larger request bodies are refused with 413 before they are read",
        ge=1024,
        le=64 * 1024 * 1024,
    )
    northpass_webhook_secret: SecretStr | None = _env(
        "NORTHPASS_WEBHOOK_SECRET",
        None,
        "the school's webhook secret (Northpass Webhooks app); unset: no receiver, polling only",
    )
    webhook_debounce_seconds: float = _env(
        "PARTNERSYNC_WEBHOOK_DEBOUNCE_SECONDS",
        2.0,
        "after a webhook arrives, wait this long for more before one batch re-reads and pushes",
        ge=0,
        le=600,
    )
    webhook_replay_minutes: int = _env(
        "PARTNERSYNC_WEBHOOK_REPLAY_MINUTES",
        15,
        "how often serve reads Northpass's sent-webhook log for events the receiver missed",
        ge=1,
        le=1440,
    )
    webhook_silence_minutes: int = _env(
        "PARTNERSYNC_WEBHOOK_SILENCE_MINUTES",
        180,
        "no webhook delivery for this long while learners were active: the replay run fails",
        ge=5,
        le=10080,
    )
    alert_webhook_url: SecretStr | None = _env(
        "PARTNERSYNC_ALERT_WEBHOOK_URL",
        None,
        "POSTs a JSON message when a task starts failing and when it recovers",
    )
    max_age_days: int = _env(
        "PARTNERSYNC_ENROLLMENT_MAX_AGE_DAYS",
        7,
        "incremental enrollment sync refreshes partner users last synced longer ago",
        ge=1,
        le=3650,
    )

    push_count_field: str = _env(
        "PARTNERSYNC_PUSH_COUNT_FIELD",
        "Certification_Count__cf",
        "Impartner Account field that receives the certification count",
        min_length=1,
    )
    push_npcu_field: str = _env(
        "PARTNERSYNC_PUSH_NPCU_FIELD",
        "Total_NPCU__cf",
        "Impartner Account field that receives the NPCU total",
        min_length=1,
    )
    push_category_fields: Annotated[dict[str, str], NoDecode] = _env(
        "PARTNERSYNC_PUSH_CATEGORY_FIELDS",
        {},
        'JSON {"category": "Impartner_Field__cf"}: per-category counts pushed to more fields',
    )
    certification_categories: Annotated[dict[str, list[str]], NoDecode] = _env(
        "PARTNERSYNC_CERTIFICATION_CATEGORIES",
        {},
        'JSON {"category": ["course name substring", ...]}: course → category rules',
    )
    public_email_domains: Names = _env(
        "PARTNERSYNC_PUBLIC_EMAIL_DOMAINS",
        PUBLIC_EMAIL_DOMAINS,
        "comma-separated mail domains that never identify a partner in group_analysis",
    )
    analysis_extra_domains: Annotated[dict[str, list[str]], NoDecode] = _env(
        "PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS",
        {},
        'JSON {"group id": ["domain", ...]}: more corporate domains for group_analysis',
    )
    analysis_min_domain_contacts: int = _env(
        "PARTNERSYNC_ANALYSIS_MIN_DOMAIN_CONTACTS",
        2,
        "group_analysis counts a partner's contact domain when at least this many of its active "
        "contacts use it (or the share does)",
        ge=1,
        le=1000,
    )
    analysis_min_domain_share: float = _env(
        "PARTNERSYNC_ANALYSIS_MIN_DOMAIN_SHARE",
        0.5,
        "group_analysis counts a partner's contact domain when at least this share of its active "
        "contacts use it (or the count does)",
        gt=0,
        le=1,
    )
    keep_logs_days: int = _env(
        "PARTNERSYNC_KEEP_LOGS_DAYS",
        30,
        "cleanup deletes finished sync_logs older than this",
        ge=1,
        le=36500,
    )
    keep_analysis_days: int = _env(
        "PARTNERSYNC_KEEP_ANALYSIS_DAYS",
        90,
        "cleanup deletes group_analysis runs and their suggestions older than this",
        ge=1,
        le=36500,
    )
    keep_snapshots_days: int | None = _env(
        "PARTNERSYNC_KEEP_SNAPSHOTS_DAYS",
        None,
        "cleanup deletes partner snapshots older than this; unset keeps them for good",
        ge=1,
        le=36500,
    )

    def secrets(self) -> list[str]:
        """Every secret value set (keys, tokens, the database password and URL), for masking."""
        values = [
            secret.get_secret_value()
            for secret in (
                self.database_url,
                self.api_token,
                self.northpass_api_key,
                self.impartner_api_key,
                self.alert_webhook_url,
                self.northpass_webhook_secret,
            )
            if secret is not None
        ]
        passwords = url_passwords(values[0])
        encoded = [form(p) for p in passwords for form in (quote, quote_plus)]  # as in the URL
        return [value for value in (*values, *passwords, *encoded) if value]

    @property
    def northpass(self) -> NorthpassConfig:
        return NorthpassConfig(
            base_url=self.northpass_base_url,
            api_key=self.northpass_api_key,
            rate_per_second=self.northpass_rate_per_second,
            rate_ceiling=max(self.northpass_rate_ceiling, self.northpass_rate_per_second),
            page_size=self.northpass_page_size,
            concurrency=self.northpass_concurrency,
        )

    @property
    def impartner(self) -> ImpartnerConfig:
        return ImpartnerConfig(
            base_url=self.impartner_base_url,
            api_key=self.impartner_api_key,
            tenant_id=self.impartner_tenant_id,
            rate_per_second=self.impartner_rate_per_second,
            rate_ceiling=max(self.impartner_rate_ceiling or 0.0, self.impartner_rate_per_second),
            page_size=self.impartner_page_size,
            filter_margin_hours=self.impartner_filter_margin_hours,
        )

    @property
    def database_url_masked(self) -> str:
        """The database URL as it may be shown: the password replaced by `***`."""
        return masked_url(self.database_url.get_secret_value())

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError as exc:
            raise ValueError("not a valid SQLAlchemy URL") from exc
        if url.get_backend_name() not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"unsupported database {url.get_backend_name()!r}; use sqlite or mysql+pymysql"
            )
        return value

    @field_validator("api_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        """At least `MIN_TOKEN_CHARS`; surrounding white space is dropped (HTTP drops it too)."""
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"must be at least {MIN_TOKEN_CHARS} characters; `partnersync token` makes one"
            )
        return SecretStr(token)

    @field_validator(
        "impartner_excluded_tiers",
        "impartner_excluded_statuses",
        "impartner_contact_excluded_domains",
        "impartner_contact_excluded_local_tokens",
        "public_email_domains",
        "access_auto_accept",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """`"Pending, Suspended"` → `("Pending", "Suspended")`; blanks are dropped."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple, set, frozenset)):
            return tuple(str(item).strip() for item in value if str(item).strip())
        return value

    @field_validator(
        "push_category_fields", "certification_categories", "analysis_extra_domains", mode="before"
    )
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        """Mappings are written in the environment as JSON objects."""
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError("not a valid JSON object") from None
        return value

    @field_validator("public_email_domains", mode="after")
    @classmethod
    def _lower_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(domain.lower() for domain in value)

    @field_validator("analysis_extra_domains", "certification_categories", mode="after")
    @classmethod
    def _clean_lists(
        cls, value: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        """Trimmed, non-empty entries; domains lower-cased (patterns compare case-insensitively)."""
        lower = info.field_name == "analysis_extra_domains"
        cleaned = {}
        for key, items in value.items():
            kept = [item.strip().lower() if lower else item.strip() for item in items]
            if not key.strip() or not all(kept):
                raise ValueError("keys and list entries must not be blank")
            cleaned[key.strip()] = kept
        return cleaned

    @field_validator("push_count_field", "push_npcu_field", mode="after")
    @classmethod
    def _pushable_field(cls, value: str) -> str:
        if value.strip().lower() in CRM_OWNED_FIELDS:
            raise ValueError("Id and Name are never pushed")
        return value.strip()

    @field_validator("push_category_fields", mode="after")
    @classmethod
    def _field_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not key.strip() or not name.strip() for key, name in value.items()):
            raise ValueError("category and field names must not be blank")
        if any(name.strip().lower() in CRM_OWNED_FIELDS for name in value.values()):
            raise ValueError("Id and Name are never pushed")
        return {key.strip(): name.strip() for key, name in value.items()}

    @field_validator("northpass_base_url", "impartner_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_secret_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def northpass_settings(settings: Settings) -> NorthpassSettings:
    """The Northpass client's settings; `ConfigError` naming NORTHPASS_API_KEY without a key."""
    northpass = settings.northpass
    return NorthpassSettings(
        base_url=northpass.base_url,
        api_key=require(northpass.api_key, "NORTHPASS_API_KEY"),
        rate_per_second=northpass.rate_per_second,
        rate_ceiling=northpass.rate_ceiling,
        page_size=northpass.page_size,
        concurrency=northpass.concurrency,
        timeout_s=settings.http_timeout_seconds,
        retry=RetryPolicy(max_attempts=settings.http_max_attempts),
    )


def impartner_settings(settings: Settings) -> ImpartnerSettings:
    """The Impartner client's settings; `ConfigError` naming IMPARTNER_API_KEY without a key."""
    impartner = settings.impartner
    return ImpartnerSettings(
        base_url=impartner.base_url,
        api_key=require(impartner.api_key, "IMPARTNER_API_KEY"),
        tenant_id=str(impartner.tenant_id),
        rate_per_second=impartner.rate_per_second,
        rate_ceiling=impartner.rate_ceiling,
        page_size=impartner.page_size,
        timeout_s=settings.http_timeout_seconds,
        retry=RetryPolicy(max_attempts=settings.http_max_attempts),
    )


PREFIXES = ("PARTNERSYNC_", "NORTHPASS_", "IMPARTNER_")
OTHER_KNOWN = frozenset(
    {"PARTNERSYNC_LOG_LEVEL", "PARTNERSYNC_LOG_JSON", "PARTNERSYNC_TEST_MARIADB_URL"}
)
"""Variables read outside `Settings`: the log options (command line) and the tests' database."""


def known_variables() -> frozenset[str]:
    aliases = {str(info.validation_alias) for info in Settings.model_fields.values()}
    return frozenset(aliases) | OTHER_KNOWN


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per unknown PARTNERSYNC_/NORTHPASS_/IMPARTNER_ variable, naming the closest
    known one: a typo (`PARTNERSYNC_DATABSE_URL`) would otherwise silently fall back to a
    default."""
    known = known_variables()
    warnings = []
    for name in sorted(environ):
        if name.startswith(PREFIXES) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"warning: unknown setting {name} is ignored{hint}")
    return warnings


SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd"})
"""Driver arguments that carry a password when given in the URL's query string."""


def masked_url(url: str) -> str:
    """`url` with every password — the user part's and the query's — replaced by `***` (an
    unparsable URL is not shown at all)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(an unparsable URL)"
    hidden = {key: "***" for key in parsed.query if key.lower() in SECRET_QUERY_KEYS}
    shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    return shown.replace("%2A%2A%2A", "***")


def url_passwords(url: str) -> list[str]:
    """Every password `url` carries, for masking in logs."""
    parsed = make_url(url)
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if key.lower() in SECRET_QUERY_KEYS:
            found += [value] if isinstance(value, str) else list(value)
    return [str(password) for password in found]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; raise `ConfigError` naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def require(value: SecretStr | None, name: str) -> SecretStr:
    """A secret a command cannot run without; fail naming its variable."""
    if value is None or not value.get_secret_value():
        raise ConfigError(f"invalid configuration: {name} is required for this command")
    return value
