"""The live in-memory dataset behind both simulated APIs, and the mutations that change it.

Write endpoints and tests change the data only through the methods here, so every change takes
the lock, bumps the touched records' update time to `clock()` and bumps `version` (which
invalidates cached query results).
"""

from __future__ import annotations

import random
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]
Listener = Callable[[str, str, "str | None"], None]
"""Told of each learner event as it happens: (event type, person id, course id or None)."""


def utc_now() -> datetime:
    """Real UTC time at second precision, as both services report it."""
    return datetime.now(UTC).replace(microsecond=0)


# --- Northpass records -------------------------------------------------------------------


@dataclass(slots=True)
class Person:
    id: str
    email: str | None
    first_name: str
    last_name: str
    full_name: str
    disabled: bool
    unsubscribed: bool
    registration_status: str
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime | None
    deactivated_at: datetime | None
    custom_avatar_url: str | None = None
    sso_uid: str | None = None


@dataclass(slots=True)
class Group:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(slots=True)
class Membership:
    id: str
    person_id: str
    group_id: str
    created_at: datetime


@dataclass(slots=True)
class Course:
    id: str
    name: str
    status: str
    permalink: str
    created_at: datetime
    updated_at: datetime
    short_description: str | None = None
    full_description: str | None = None  # HTML
    list_image_url: str | None = None
    ribbon: str | None = None
    unpublished_changes: bool = False
    dependent_course_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TranscriptItem:
    """One transcript line; course items double as the course's enrollment record."""

    id: str
    enrollment_id: str
    person_id: str
    resource_id: str
    resource_type: str
    name: str
    progress_status: str
    progress: int
    enrolled_at: datetime
    started_at: datetime | None
    completed_at: datetime | str | None  # a str only for planted unparsable dates
    last_active_at: datetime | None
    expires_at: datetime | None
    updated_at: datetime
    attempt_number: int = 1
    version_number: int = 1  # the course version the person took


# --- Impartner records (attribute names are the API's PascalCase field names) ---------------


@dataclass(slots=True)
class Region:
    Id: int
    Name: str
    Created: datetime
    Updated: datetime


@dataclass(slots=True)
class Account:
    Id: int
    Name: str | None
    Created: datetime
    Updated: datetime
    CrmId: str | None
    IsActive: bool
    Partner_Tier__cf: str | None
    Partner_Type__cf: str | None
    Account_Status__cf: str
    Website: str | None
    MailingCity: str | None
    MailingCountry: str | None
    Region: int | None
    ParentAccount: int | None = None
    PrimaryUser: int | None = None
    MemberCount: int = 0
    RecordVersion: int = 1
    Certification_Count__cf: int | None = None
    Total_NPCU__cf: float | None = None
    LMS_Account_ID__cf: str | None = None
    LMS_Group_Name__cf: str | None = None
    Nintex_CE_Certifications__cf: float | None = None
    Nintex_K2_Certifications__cf: float | None = None
    Nintex_Automation_Cloud_Certifications__cf: float | None = None
    Nintex_RPA_Certifications__cf: float | None = None
    CreatedBy: int | None = None
    UpdatedBy: int | None = None
    IsTest: bool = False
    IsFeatured: bool = False
    Tier: int | None = None
    PartnerLevel: int | None = None
    Phone: str | None = None
    MailingStreet: str | None = None
    MailingSuite: str | None = None
    MailingState: str | None = None
    MailingPostalCode: str | None = None
    MailingCountryCode: str | None = None
    MailingLatitude: float | None = None
    MailingLongitude: float | None = None
    ExternalId1: str | None = None
    ExternalId2: str | None = None
    CrmLastImported: datetime | None = None
    CrmLastExported: datetime | None = None
    CrmLastKnownDateUpdated: datetime | None = None
    Account_Owner__cf: str | None = None
    Account_Owner_Email__cf: str | None = None
    LMS_Training_Dashboard__cf: str | None = None


@dataclass(slots=True)
class User:
    Id: int
    Email: str
    UserName: str
    FirstName: str
    LastName: str
    Title: str | None
    Phone: str | None
    IsActive: bool
    Account: int | None
    Contact_Status__cf: str
    CrmId: str | None
    Created: datetime
    Updated: datetime
    RecordVersion: int = 1
    Mobile: str | None = None
    IsTest: bool = False
    LastLoginTimeStamp: datetime | None = None
    Region: int | None = None
    MailingStreet: str | None = None
    MailingSuite: str | None = None
    MailingCity: str | None = None
    MailingState: str | None = None
    MailingPostalCode: str | None = None
    MailingCountry: str | None = None
    MailingCountryCode: str | None = None
    MailingLatitude: float | None = None
    MailingLongitude: float | None = None


ImpartnerRecord = Region | Account | User


@dataclass
class Dataset:
    """Everything both services hold. Read freely; change through the methods below."""

    clock: Clock = utc_now
    seed: int = 0
    tenant_id: int = 1
    people: dict[str, Person] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    # group id → person id → membership
    memberships: dict[str, dict[str, Membership]] = field(default_factory=dict)
    person_groups: dict[str, set[str]] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    course_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    forbidden_property_ids: set[str] = field(default_factory=set)
    learning_paths: dict[str, str] = field(default_factory=dict)  # id → name
    transcripts: dict[str, list[TranscriptItem]] = field(default_factory=dict)  # by person id
    # course id → person id → the person's transcript item for that course
    enrollments: dict[str, dict[str, TranscriptItem]] = field(default_factory=dict)
    regions: dict[int, Region] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    deleted: dict[str, dict[int, datetime]] = field(
        default_factory=lambda: {"Account": {}, "User": {}, "Region": {}}
    )
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    school_id: str = ""  # the one school every person belongs to
    listeners: list[Listener] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._ids = random.Random(f"new-ids-{self.seed}")
        if not self.school_id:  # its own generator, so the ids handed out later stay as they were
            bits = random.Random(f"school-{self.seed}").getrandbits(128)
            self.school_id = str(uuid.UUID(int=bits, version=4))

    # --- plumbing ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def new_uuid(self) -> str:
        """Deterministic uuid4-shaped id for records created after generation."""
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def next_impartner_id(self, entity: str) -> int:
        """Ids only grow: a deleted record's id is never handed out again."""
        table = self.impartner_table(entity)
        return max(max(table, default=0), max(self.deleted[entity], default=0)) + 1

    def emit(self, event_type: str, person_id: str, course_id: str | None = None) -> None:
        """Tell the listeners (the webhooks) of a learner event, inside the change's lock."""
        for listener in self.listeners:
            listener(event_type, person_id, course_id)

    @contextmanager
    def change(self) -> Iterator[datetime]:
        """Hold the lock for one change and hand out its timestamp."""
        with self.lock:
            yield self.now()
            self.version += 1

    # --- Northpass people -------------------------------------------------------------------

    def add_person(
        self, email: str | None, first_name: str, last_name: str, **attrs: Any
    ) -> Person:
        with self.change() as now:
            person = Person(
                id=attrs.pop("id", None) or self.new_uuid(),
                email=email,
                first_name=first_name,
                last_name=last_name,
                full_name=f"{first_name} {last_name}".strip(),
                disabled=False,
                unsubscribed=False,
                registration_status="invited",
                activated_at=None,
                created_at=now,
                updated_at=now,
                last_active_at=None,
                deactivated_at=None,
            )
            for name, value in attrs.items():
                setattr(person, name, value)
            self.people[person.id] = person
            self.emit("learner_created_events", person.id)
            return person

    def update_person(self, person_id: str, **attrs: Any) -> Person:
        with self.change() as now:
            person = self.people[person_id]
            for name, value in attrs.items():
                setattr(person, name, value)
            if "first_name" in attrs or "last_name" in attrs:
                person.full_name = f"{person.first_name} {person.last_name}".strip()
            person.updated_at = now
            if attrs.get("registration_status") == "activated":
                self.emit("person_activated_events", person.id)
            return person

    def touch_person(self, person_id: str) -> Person:
        return self.update_person(person_id)

    def delete_person(self, person_id: str) -> None:
        """Removes the person with their memberships and transcript (Northpass keeps no trace)."""
        with self.change():
            del self.people[person_id]
            for group_id in self.person_groups.pop(person_id, set()):
                self.memberships[group_id].pop(person_id, None)
            for item in self.transcripts.pop(person_id, []):
                if item.resource_type == "course":
                    self.enrollments.get(item.resource_id, {}).pop(person_id, None)

    # --- Northpass groups -------------------------------------------------------------------

    def add_group(
        self, name: str, group_id: str | None = None, description: str | None = None
    ) -> Group:
        with self.change() as now:
            group = Group(group_id or self.new_uuid(), name, now, now, description)
            self.groups[group.id] = group
            self.memberships[group.id] = {}
            return group

    def rename_group(self, group_id: str, name: str) -> Group:
        with self.change() as now:
            group = self.groups[group_id]
            group.name = name
            group.updated_at = now
            return group

    def touch_group(self, group_id: str) -> Group:
        return self.rename_group(group_id, self.groups[group_id].name)

    def delete_group(self, group_id: str) -> None:
        with self.change():
            del self.groups[group_id]
            for person_id in self.memberships.pop(group_id, {}):
                self.person_groups[person_id].discard(group_id)

    def add_membership(self, group_id: str, person_id: str) -> bool:
        """Adds the person to the group; False when already a member (nothing changes)."""
        with self.change() as now:
            members = self.memberships[group_id]
            if person_id in members:
                return False
            members[person_id] = Membership(self.new_uuid(), person_id, group_id, now)
            self.person_groups.setdefault(person_id, set()).add(group_id)
            self.groups[group_id].updated_at = now
            self.people[person_id].updated_at = now
            return True

    def remove_membership(self, group_id: str, person_id: str) -> bool:
        """Removes the person from the group; False when they were not a member."""
        with self.change() as now:
            if self.memberships[group_id].pop(person_id, None) is None:
                return False
            self.person_groups[person_id].discard(group_id)
            self.groups[group_id].updated_at = now
            if person_id in self.people:
                self.people[person_id].updated_at = now
            return True

    # --- Northpass courses and learning records --------------------------------------------

    def add_course(self, name: str, npcu: Any = 0, status: str = "live") -> Course:
        with self.change() as now:
            course = Course(self.new_uuid(), name, status, slug(name), now, now)
            self.courses[course.id] = course
            self.course_properties[course.id] = {"name": name, "npcu": npcu}
            self.enrollments[course.id] = {}
            return course

    def touch_course(self, course_id: str) -> Course:
        with self.change() as now:
            course = self.courses[course_id]
            course.updated_at = now
            return course

    def set_course_property(self, course_id: str, name: str, value: Any) -> None:
        with self.change() as now:
            self.course_properties[course_id][name] = value
            if course_id in self.courses:
                self.courses[course_id].updated_at = now

    def delete_course(self, course_id: str) -> None:
        """The course leaves the catalog; transcripts keep their items, properties answer 403."""
        with self.change():
            del self.courses[course_id]
            self.forbidden_property_ids.add(course_id)

    def add_completion(
        self,
        person_id: str,
        course_id: str,
        completed_at: datetime | None = None,
        expires_at: datetime | None = None,
        progress_status: str = "completed",
    ) -> TranscriptItem:
        """Records (or updates) the person's transcript item for a course."""
        with self.change() as now:
            done = progress_status == "completed"
            item = self.enrollments.setdefault(course_id, {}).get(person_id)
            if item is None:
                name = self.course_properties.get(course_id, {}).get("name", "")
                item = TranscriptItem(
                    id=self.new_uuid(),
                    enrollment_id=self.new_uuid(),
                    person_id=person_id,
                    resource_id=course_id,
                    resource_type="course",
                    name=self.courses[course_id].name if course_id in self.courses else name,
                    progress_status=progress_status,
                    progress=0,
                    enrolled_at=now,
                    started_at=None,
                    completed_at=None,
                    last_active_at=None,
                    expires_at=None,
                    updated_at=now,
                )
                self.enrollments[course_id][person_id] = item
                self.transcripts.setdefault(person_id, []).append(item)
            item.progress_status = progress_status
            if progress_status != "enrolled":
                item.progress = 100 if done else max(item.progress, 50)
                item.started_at = item.started_at or now
            item.completed_at = (completed_at or now) if done else None
            item.expires_at = expires_at
            item.last_active_at = now
            item.updated_at = now
            if person_id in self.people:  # learning activity shows on the person record too
                self.people[person_id].last_active_at = now
                self.people[person_id].updated_at = now
            if done:
                self.emit("course_completed_events", person_id, course_id)
            return item

    # --- Impartner --------------------------------------------------------------------------

    def impartner_table(self, entity: str) -> dict[int, Any]:
        tables: dict[str, dict[int, Any]] = {
            "Account": self.accounts,
            "User": self.users,
            "Region": self.regions,
        }
        return tables[entity]

    def add_account(self, name: str | None, **fields: Any) -> Account:
        with self.change() as now:
            account = Account(
                Id=fields.pop("Id", None) or self.next_impartner_id("Account"),
                Name=name,
                Created=now,
                Updated=now,
                CrmId=None,
                IsActive=True,
                Partner_Tier__cf=None,
                Partner_Type__cf=None,
                Account_Status__cf="Active",
                Website=None,
                MailingCity=None,
                MailingCountry=None,
                Region=None,
            )
            for key, value in fields.items():
                setattr(account, key, value)
            self.accounts[account.Id] = account
            return account

    def add_user(self, email: str, first_name: str, last_name: str, **fields: Any) -> User:
        with self.change() as now:
            user = User(
                Id=fields.pop("Id", None) or self.next_impartner_id("User"),
                Email=email,
                UserName=fields.pop("UserName", email),
                FirstName=first_name,
                LastName=last_name,
                Title=None,
                Phone=None,
                IsActive=True,
                Account=None,
                Contact_Status__cf="Active",
                CrmId=None,
                Created=now,
                Updated=now,
            )
            for name, value in fields.items():
                setattr(user, name, value)
            self.users[user.Id] = user
            self._count_member(user.Account, +1)
            return user

    def update_record(self, entity: str, record_id: int, **fields: Any) -> Any:
        """Partial update of an Impartner record: bumps `Updated` and `RecordVersion`."""
        with self.change() as now:
            record = self.impartner_table(entity)[record_id]
            if entity == "User" and "Account" in fields:
                self._count_member(record.Account, -1)
                self._count_member(fields["Account"], +1)
            for name, value in fields.items():
                setattr(record, name, value)
            record.Updated = now
            if hasattr(record, "RecordVersion"):
                record.RecordVersion += 1
            return record

    def update_account(self, account_id: int, **fields: Any) -> Account:
        account: Account = self.update_record("Account", account_id, **fields)
        return account

    def touch_account(self, account_id: int) -> Account:
        return self.update_account(account_id)

    def update_user(self, user_id: int, **fields: Any) -> User:
        user: User = self.update_record("User", user_id, **fields)
        return user

    def touch_user(self, user_id: int) -> User:
        return self.update_user(user_id)

    def delete_record(self, entity: str, record_id: int) -> None:
        """Removes an Impartner record and remembers when, for `_deleted`."""
        with self.change() as now:
            record = self.impartner_table(entity).pop(record_id)
            self.deleted[entity][record_id] = now
            if entity == "User":
                self._count_member(record.Account, -1)

    def delete_account(self, account_id: int) -> None:
        self.delete_record("Account", account_id)

    def delete_user(self, user_id: int) -> None:
        self.delete_record("User", user_id)

    def _count_member(self, account_id: int | None, delta: int) -> None:
        account = self.accounts.get(account_id) if account_id is not None else None
        if account is not None:
            account.MemberCount += delta


def slug(text: str) -> str:
    """Lower-case ASCII slug, as used for permalinks and email domains."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = "".join(c if c.isalnum() else "-" for c in ascii_text.lower())
    return "-".join(part for part in out.split("-") if part)
