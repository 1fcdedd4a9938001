"""The Impartner objects the sandbox serves, with their fields as the API names and types them.

Account and User declare every field docs/vendor-facts.md §2.5 lists for them (the tenant's
Swagger has more); a field the sandbox has no value for is served as null. `Tier` and
`PartnerLevel` point to objects the sandbox does not serve, so they are always null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from partnersync.sandbox.data import Dataset


@dataclass(frozen=True)
class FieldDef:
    name: str  # PascalCase API name
    kind: str  # "int", "double", "string", "bool", "datetime", "lookup"
    read_only: bool = False
    target: str | None = None  # the entity a lookup points to (None: one not served)
    compute: Callable[[Dataset, Any], Any] | None = None  # derived (read-only) fields

    def value(self, ds: Dataset, record: Any) -> Any:
        return self.compute(ds, record) if self.compute else getattr(record, self.name)


@dataclass(frozen=True)
class EntityDef:
    name: str
    fields: tuple[FieldDef, ...]
    by_name: dict[str, FieldDef] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = {f.name.lower(): f for f in self.fields}
        names.update({f"{f.name.lower()}id": f for f in self.fields if f.kind == "lookup"})
        object.__setattr__(self, "by_name", names)

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive; a lookup also answers to `<Name>Id` (as clients request it)."""
        return self.by_name.get(name.strip().lower())


def _account_name(ds: Dataset, user: Any) -> str | None:
    account = ds.accounts.get(user.Account) if user.Account is not None else None
    return account.Name if account else None


def _is_primary_member(ds: Dataset, user: Any) -> bool:
    account = ds.accounts.get(user.Account) if user.Account is not None else None
    return account is not None and account.PrimaryUser == user.Id


def _record_link(ds: Dataset, account: Any) -> str:
    return f"{PORTAL}/s/account/{account.Id}"


def _fields(*specs: tuple[Any, ...]) -> tuple[FieldDef, ...]:
    return tuple(FieldDef(*spec) for spec in specs)


PORTAL = "https://partners.example.com"
"""The partner portal a record's `RecordLink` opens."""
STANDARD = (("Id", "int", True), ("Created", "datetime", True), ("Updated", "datetime", True))
MAILING = (
    ("MailingStreet", "string"),
    ("MailingSuite", "string"),
    ("MailingCity", "string"),
    ("MailingState", "string"),
    ("MailingPostalCode", "string"),
    ("MailingCountry", "string"),
    ("MailingCountryCode", "string"),
    ("MailingLatitude", "double"),
    ("MailingLongitude", "double"),
)

ACCOUNT = EntityDef(
    "Account",
    _fields(
        *STANDARD,
        ("CreatedBy", "lookup", True, "User"),
        ("UpdatedBy", "lookup", True, "User"),
        ("Name", "string"),
        ("CrmId", "string"),
        ("IsActive", "bool"),
        ("IsTest", "bool"),
        ("IsFeatured", "bool"),
        ("Partner_Tier__cf", "string"),
        ("Partner_Type__cf", "string"),
        ("Account_Status__cf", "string", True),
        ("Account_Owner__cf", "string", True),
        ("Account_Owner_Email__cf", "string"),
        ("Website", "string"),
        ("Phone", "string"),
        *MAILING,
        ("Region", "lookup", False, "Region"),
        ("Tier", "lookup"),
        ("PartnerLevel", "lookup"),
        ("ParentAccount", "lookup", False, "Account"),
        ("PrimaryUser", "lookup", False, "User"),
        ("MemberCount", "int", True),
        ("RecordLink", "string", True, None, _record_link),
        ("RecordVersion", "int", True),
        ("ExternalId1", "string"),
        ("ExternalId2", "string"),
        ("CrmLastImported", "datetime"),
        ("CrmLastExported", "datetime"),
        ("CrmLastKnownDateUpdated", "datetime"),
        ("Certification_Count__cf", "int"),
        ("Total_NPCU__cf", "double"),
        ("LMS_Account_ID__cf", "string"),
        ("LMS_Group_Name__cf", "string"),
        ("LMS_Training_Dashboard__cf", "string"),
        ("Nintex_CE_Certifications__cf", "double"),
        ("Nintex_K2_Certifications__cf", "double"),
        ("Nintex_Automation_Cloud_Certifications__cf", "double"),
        ("Nintex_RPA_Certifications__cf", "double"),
    ),
)

USER = EntityDef(
    "User",
    _fields(
        *STANDARD,
        ("Email", "string"),
        ("UserName", "string"),
        ("FirstName", "string"),
        ("LastName", "string"),
        ("Title", "string"),
        ("Phone", "string"),
        ("Mobile", "string"),
        ("IsActive", "bool"),
        ("IsTest", "bool"),
        ("IsPrimaryMember", "bool", True, None, _is_primary_member),
        ("Account", "lookup", False, "Account"),
        ("AccountName", "string", True, None, _account_name),
        ("Region", "lookup", False, "Region"),
        *MAILING,
        ("Contact_Status__cf", "string"),
        ("CrmId", "string"),
        ("LastLoginTimeStamp", "datetime", True),
        ("RecordVersion", "int", True),
    ),
)

REGION = EntityDef("Region", _fields(*STANDARD, ("Name", "string")))

ENTITIES = {e.name.lower(): e for e in (ACCOUNT, USER, REGION)}
