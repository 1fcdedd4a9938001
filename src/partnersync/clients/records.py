"""Typed records for everything the syncs read, and the skip-don't-crash parsing of pages.

Northpass records are JSON:API (`id`, `attributes`, `relationships`); they are flattened so the
models see attributes at the top level. Impartner records use Json.NET camelCase keys
(`partner_Tier__cf`, `crmId`, `regionId`). Unknown fields are ignored; a malformed record (missing
id, unparsable date, wrong type) becomes a `Skipped` with a reason instead of an exception.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from partnersync.types import Page, Skipped


def to_utc(value: Any) -> dt.datetime | None:
    """ISO-8601 with `Z` or an offset → aware UTC datetime; a value without an offset is refused."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"unparsable timestamp {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value.isoformat()!r} has no UTC offset")
    return value.astimezone(dt.UTC)


def normalise_email(value: Any) -> str | None:
    """Lower-cased and trimmed; empty means no email."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"email must be a string, got {type(value).__name__}")
    return value.strip().lower() or None


UtcDatetime = Annotated[dt.datetime | None, BeforeValidator(to_utc)]
Email = Annotated[str | None, BeforeValidator(normalise_email)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _JsonApiRecord(_Record):
    """Flattens `{id, attributes, relationships}`: attributes to the top level, the rest kept."""

    id: NonEmptyStr

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        attributes = raw.get("attributes")
        flat = dict(attributes) if isinstance(attributes, dict) else {}
        flat["id"] = raw.get("id")
        flat["relationships"] = raw.get("relationships") or {}
        return flat


def _person_id() -> Any:
    return Field(
        validation_alias=AliasChoices(
            "person_id", AliasPath("relationships", "person", "data", "id")
        )
    )


class NorthpassPerson(_JsonApiRecord):
    email: Email = None
    first_name: str | None = None
    last_name: str | None = None
    disabled: bool | None = None
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None
    last_active_at: UtcDatetime = None
    deactivated_at: UtcDatetime = None


class NorthpassGroup(_JsonApiRecord):
    name: str | None = None
    description: str | None = None
    memberships_count: int | None = Field(
        default=None,
        validation_alias=AliasChoices("memberships_count", "membership_count", "user_count"),
    )
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None


class NorthpassMembership(_JsonApiRecord):
    person_id: NonEmptyStr = _person_id()


class NorthpassCourse(_JsonApiRecord):
    name: str | None = Field(default=None, validation_alias=AliasChoices("name", "title"))
    status: str | None = None
    enrollments_count: int | None = None
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None


class NorthpassCourseEnrollment(_JsonApiRecord):
    """A row of `/v2/courses/{id}/enrollments`; its id is unique only within the course."""

    person_id: NonEmptyStr = _person_id()
    course_id: str | None = None
    progress: float | None = None
    enrolled_at: UtcDatetime = None


class NorthpassCourseProperties(_JsonApiRecord):
    """Custom properties of one course (`id` is the course id).

    NPCU stays raw here: `npcu` is only the strict integer reading of it, and `npcu_invalid` says
    a value was present but is not an integer, so the sync can report it rather than guess.
    """

    properties: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str | None:
        name = self.properties.get("name")
        return name if isinstance(name, str) else None

    @property
    def npcu_raw(self) -> Any:
        return self.properties.get("npcu")

    @property
    def npcu(self) -> int | None:
        raw = self.npcu_raw
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            return int(raw.strip())
        return None

    @property
    def npcu_invalid(self) -> bool:
        return self.npcu_raw not in (None, "") and self.npcu is None


class TranscriptItem(_JsonApiRecord):
    """One entry of a person's transcript; `resource_type` tells courses from learning paths."""

    resource_id: NonEmptyStr
    resource_type: str | None = None
    name: str | None = None
    progress_status: str | None = None
    progress: float | None = None
    enrolled_at: UtcDatetime = None
    started_at: UtcDatetime = None
    completed_at: UtcDatetime = None
    expires_at: UtcDatetime = None
    last_active_at: UtcDatetime = None


class ImpartnerAccount(_Record):
    id: int
    name: str | None = None
    partner_tier: str | None = Field(default=None, alias="partner_Tier__cf")
    partner_type: str | None = Field(default=None, alias="partner_Type__cf")
    account_status: str | None = Field(default=None, alias="account_Status__cf")
    crm_id: str | None = Field(default=None, alias="crmId")
    website: str | None = None
    mailing_city: str | None = Field(default=None, alias="mailingCity")
    mailing_country: str | None = Field(default=None, alias="mailingCountry")
    region_id: int | None = Field(default=None, alias="regionId")
    parent_account_id: int | None = Field(default=None, alias="parentAccountId")
    primary_user_id: int | None = Field(default=None, alias="primaryUserId")
    member_count: int | None = Field(default=None, alias="memberCount")
    is_active: bool | None = Field(default=None, alias="isActive")
    created: UtcDatetime = None
    updated: UtcDatetime = None


class ImpartnerFieldValues(_Record):
    """An Account's `Id` and whichever fields were asked for, found by name whatever their
    casing (the API camelCases keys): for reading back what a push wrote."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: int

    def value(self, name: str) -> Any:
        wanted = name.casefold()
        return next(
            (v for k, v in (self.model_extra or {}).items() if k.casefold() == wanted), None
        )


class ImpartnerUser(_Record):
    id: int
    email: Email = None
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    title: str | None = None
    phone: str | None = None
    account_id: int | None = Field(default=None, alias="accountId")
    account_name: str | None = Field(default=None, alias="accountName")
    contact_status: str | None = Field(default=None, alias="contact_Status__cf")
    crm_id: str | None = Field(default=None, alias="crmId")
    is_active: bool | None = Field(default=None, alias="isActive")
    created: UtcDatetime = None
    updated: UtcDatetime = None


class ImpartnerRegion(_Record):
    id: int
    name: str | None = None


R = TypeVar("R", bound=BaseModel)


def parse_records(raw: Iterable[Any], model: type[R]) -> tuple[list[R], list[Skipped]]:
    """Validate each raw record; a bad one is skipped with a reason, never raised."""
    ok: list[R] = []
    skipped: list[Skipped] = []
    for item in raw:
        try:
            record = model.model_validate(item)
        except ValidationError as exc:
            skipped.append(Skipped(_raw_id(item), _reason(exc)))
            continue
        problem = _not_unicode(record)
        if problem:
            skipped.append(Skipped(_raw_id(item), problem))
        else:
            ok.append(record)
    return ok, skipped


def _not_unicode(record: BaseModel) -> str | None:
    """A text field UTF-8 cannot carry (valid JSON `"\\ud800"`: a lone surrogate), or None."""
    for name, value in record:
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{name}: text that is not valid Unicode (a lone surrogate)"
    return None


def parse_page(raw: Iterable[Any], model: type[R]) -> Page[R]:
    return Page(*parse_records(raw, model))


def _raw_id(item: Any) -> str | None:
    if isinstance(item, dict) and item.get("id") not in (None, ""):
        return str(item["id"])
    return None


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
