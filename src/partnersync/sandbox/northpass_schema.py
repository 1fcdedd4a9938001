"""Every Northpass record type the sandbox serves, each as one table: its attributes (name, JSON
kind, whether null is allowed, how the value is read from the dataset), links and relationships.

The table renders the records, decides what can be filtered and sorted on, and is what
tests/sandbox/test_record_schema.py checks served records against, so what is shown, what can
be queried and what the vendor facts list (docs/vendor-facts.md §1.6) cannot drift apart.
Values the facts leave open (hrefs, descriptions, image URLs, tokens) are simulated.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from partnersync.sandbox.data import Course, Dataset, Group, Person, TranscriptItem

Kind = Literal["str", "number", "bool", "datetime", "object", "array"]
SCALAR_KINDS: frozenset[str] = frozenset({"str", "number", "bool", "datetime"})
"""Kinds that can be filtered and sorted on; objects and arrays are only shown."""
Getter = Callable[[Any], Any]
Fields = dict[str, tuple[Getter, str]]  # attribute → (getter, kind): what filters and sorts use

ACADEMY = "https://academy.example.com"
"""The learner-facing site (enrollment and certificate links)."""
ADMIN = "https://app.example.com"
"""The admin app (course editing links)."""
CDN = "https://cdn.example.com"


def timestamp(value: datetime | str | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SSZ`; planted malformed values pass through unchanged."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"
    return value


def ref(kind: str, record_id: str) -> dict[str, str]:
    return {"type": kind, "id": record_id}


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: Kind
    nullable: bool = False
    get: Callable[[Dataset, Any], Any] | None = None  # default: the record's field of that name

    def value(self, ds: Dataset, record: Any) -> Any:
        return self.get(ds, record) if self.get else getattr(record, self.name)

    def json(self, ds: Dataset, record: Any) -> Any:
        value = self.value(ds, record)
        if self.kind == "datetime":
            return timestamp(value)
        if self.kind == "array":
            return list(value)
        return value


@dataclass(frozen=True)
class Link:
    """A hypermedia link: `href` from (API root, record), with the HTTP methods it allows."""

    name: str
    href: Callable[[str, Any], str]
    methods: tuple[str, ...] = ("get",)
    when: Callable[[Any], bool] | None = None  # a link only some records carry

    def json(self, base: str, record: Any, methods_in_meta: bool) -> dict[str, Any]:
        href = self.href(base, record)
        if not self.methods:
            return {"href": href}
        if methods_in_meta:
            return {"href": href, "meta": {"methods": list(self.methods)}}
        return {"href": href, "methods": list(self.methods)}


@dataclass(frozen=True)
class Relationship:
    """`relationships.<name>.data`: an array of `{type, id}` (to many) or one (or null)."""

    name: str
    type: str
    to_many: bool
    ids: Callable[[Dataset, Any], Any]

    def json(self, ds: Dataset, record: Any) -> dict[str, Any]:
        ids = self.ids(ds, record)
        if self.to_many:
            return {"data": [ref(self.type, i) for i in ids]}
        return {"data": ref(self.type, ids) if ids is not None else None}


@dataclass(frozen=True)
class RecordType:
    type: str
    id: Getter
    attributes: tuple[Attribute, ...]
    links: tuple[Link, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    methods_in_meta: bool = False  # courses put a link's methods under `meta`, people beside it

    def fields(self, ds: Dataset) -> Fields:
        """The attributes filters and sorting may name (with `id`), read from `ds`."""
        fields: Fields = {"id": (self.id, "str")}
        for a in self.attributes:
            if a.kind in SCALAR_KINDS:
                fields[a.name] = (partial(a.value, ds), a.kind)
        return fields

    def render(self, ds: Dataset, base: str, record: Any) -> dict[str, Any]:
        """The JSON:API resource object; `base` is the API root the hrefs start from."""
        out: dict[str, Any] = {
            "id": self.id(record),
            "type": self.type,
            "attributes": {a.name: a.json(ds, record) for a in self.attributes},
        }
        if self.relationships:
            out["relationships"] = {r.name: r.json(ds, record) for r in self.relationships}
        if self.links:
            out["links"] = {
                link.name: link.json(base, record, self.methods_in_meta)
                for link in self.links
                if link.when is None or link.when(record)
            }
        return out


def api(path: str) -> Callable[[str, Any], str]:
    """A link into the API: `path` is formatted with the record (`{r.id}`)."""
    return lambda base, record: base + path.format(r=record)


def site(url: str) -> Callable[[str, Any], str]:
    """A link outside the API (the academy, the admin app)."""
    return lambda base, record: url.format(r=record)


def attrs(*specs: tuple[Any, ...]) -> tuple[Attribute, ...]:
    return tuple(Attribute(*spec) for spec in specs)


# --- people -------------------------------------------------------------------------------


def invite_token(ds: Dataset, person: Person) -> str | None:
    """Pending invitations carry a token (stable per person); an activated person has none."""
    if person.registration_status != "invited":
        return None
    return hashlib.sha256(f"invite-{person.id}".encode()).hexdigest()[:20]


PERSON = RecordType(
    "people",
    operator.attrgetter("id"),
    attrs(
        ("name", "str", False, lambda ds, p: p.full_name),
        ("email", "str", True),
        ("first_name", "str"),
        ("last_name", "str"),
        ("full_name", "str"),
        ("disabled", "bool"),
        ("unsubscribed", "bool"),
        ("registration_status", "str"),
        ("custom_avatar_url", "str", True),
        ("invite_token", "str", True, invite_token),
        ("sso_uid", "str", True),
        ("activated_at", "datetime", True),
        ("created_at", "datetime"),
        ("updated_at", "datetime"),
        ("last_active_at", "datetime", True),
        ("deactivated_at", "datetime", True),
    ),
    links=(
        Link("self", api("/v2/people/{r.id}"), ("get", "patch", "delete")),
        Link("teaching", api("/v2/people/{r.id}/teaching")),
    ),
    relationships=(
        Relationship(
            "groups", "groups", True, lambda ds, p: sorted(ds.person_groups.get(p.id, ()))
        ),
        Relationship("school", "schools", False, lambda ds, p: ds.school_id),
        Relationship("partnerships", "partnerships", True, lambda ds, p: ()),
    ),
)


# --- groups and memberships ---------------------------------------------------------------


def members(ds: Dataset, group: Group) -> int:
    return len(ds.memberships.get(group.id, ()))


GROUP = RecordType(
    "groups",
    operator.attrgetter("id"),
    attrs(
        ("name", "str"),
        ("description", "str", True),
        ("memberships_count", "number", False, members),
        ("group_enrollment_link", "str", False, lambda ds, g: f"{ACADEMY}/g/{g.id}"),
        ("created_at", "datetime"),
        ("updated_at", "datetime"),
    ),
    links=(Link("self", api("/v2/groups/{r.id}"), ("get", "patch", "delete")),),
)

MEMBERSHIP = RecordType(
    "memberships",
    operator.attrgetter("id"),
    attrs(("created_at", "datetime")),
    relationships=(
        Relationship("person", "people", False, lambda ds, m: m.person_id),
        Relationship("group", "groups", False, lambda ds, m: m.group_id),
    ),
)


# --- courses ------------------------------------------------------------------------------


def enrollments_count(ds: Dataset, course: Course) -> int:
    return len(ds.enrollments.get(course.id, ()))


def credential_achievement_count(ds: Dataset, course: Course) -> int:
    """People who completed the course, counted from its enrollments as they are now (a scan of
    this course's enrollments only, so a listing page costs its courses' enrollments)."""
    enrolled = ds.enrollments.get(course.id, {})
    return sum(item.progress_status == "completed" for item in enrolled.values())


COURSE = RecordType(
    "courses",
    operator.attrgetter("id"),
    attrs(
        ("name", "str"),
        ("status", "str"),
        ("permalink", "str"),
        ("short_description", "str", True),
        ("full_description", "str", True),
        ("list_image_url", "str", True),
        ("ribbon", "str", True),
        ("dependent_course_names", "array"),
        ("enrollments_count", "number", False, enrollments_count),
        ("credential_achievement_count", "number", False, credential_achievement_count),
        ("unpublished_changes", "bool"),
        ("created_at", "datetime"),
        ("updated_at", "datetime"),
    ),
    links=(
        Link("self", api("/v2/courses/{r.id}")),
        Link("edit", site(ADMIN + "/courses/{r.id}/edit")),
        Link("clone", api("/v2/courses/{r.id}/clone"), ("post",)),
        Link("enroll", site(ACADEMY + "/c/{r.permalink}")),
        Link("archive", api("/v2/courses/{r.id}/archive"), ("post",)),
        Link("unarchive", api("/v2/courses/{r.id}/unarchive"), ("post",)),
        Link("builder", site(ADMIN + "/courses/{r.id}/builder")),
        Link("preview", site(ACADEMY + "/c/{r.permalink}/preview")),
        Link("publish", api("/v2/courses/{r.id}/publish"), ("post",)),
        Link("enrollments", api("/v2/courses/{r.id}/enrollments")),
    ),
    relationships=(
        Relationship("instructor_partnerships", "instructor_partnerships", True, lambda ds, c: ()),
        Relationship("categories", "categories", True, lambda ds, c: ()),
    ),
    methods_in_meta=True,
)


# --- learning records ---------------------------------------------------------------------


ENROLLMENT = RecordType(
    "enrollments",
    operator.attrgetter("enrollment_id"),
    attrs(
        ("person_id", "str"),
        ("course_id", "str", False, lambda ds, i: i.resource_id),
        ("progress", "number"),
        ("enrolled_at", "datetime"),
        ("last_active_on", "datetime", True, lambda ds, i: i.last_active_at),
    ),
    relationships=(Relationship("person", "people", False, lambda ds, i: i.person_id),),
)


def completed(item: TranscriptItem) -> bool:
    return item.progress_status == "completed"


TRANSCRIPT_ITEM = RecordType(
    "transcript_items",
    operator.attrgetter("id"),
    attrs(
        ("resource_id", "str"),
        ("resource_type", "str"),
        ("name", "str"),
        ("progress_status", "str"),
        ("progress", "number"),
        ("enrolled_at", "datetime"),
        ("started_at", "datetime", True),
        ("completed_at", "datetime", True),
        ("last_active_at", "datetime", True),
        ("expires_at", "datetime", True),
        ("attempt_number", "number"),
        ("version_number", "number"),
    ),
    links=(Link("certificate", site(ACADEMY + "/certificates/{r.id}"), (), completed),),
)

COURSE_PROPERTIES = RecordType(
    "course_properties",
    lambda course_id: course_id,
    attrs(("properties", "object", False, lambda ds, cid: dict(ds.course_properties[cid]))),
)

WEBHOOK = RecordType(
    "webhook",
    operator.attrgetter("id"),
    attrs(
        ("type", "str"),
        ("url", "str"),
        ("payload", "object"),
        ("created_at", "datetime"),
        ("received_at", "datetime", True),
        ("attempt_left", "number"),
    ),
)
"""A record of the sent-webhook log (sandbox/webhooks.py); not among the synced types."""

RECORD_TYPES = (
    PERSON,
    GROUP,
    MEMBERSHIP,
    COURSE,
    ENROLLMENT,
    TRANSCRIPT_ITEM,
    COURSE_PROPERTIES,
)
