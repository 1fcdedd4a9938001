"""The Impartner objects the sandbox serves, with their fields as the API names and types them."""

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
    target: str | None = None  # the entity a lookup points to
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


def _fields(*specs: tuple[Any, ...]) -> tuple[FieldDef, ...]:
    return tuple(FieldDef(*spec) for spec in specs)


STANDARD = (("Id", "int", True), ("Created", "datetime", True), ("Updated", "datetime", True))

ACCOUNT = EntityDef(
    "Account",
    _fields(
        *STANDARD,
        ("Name", "string"),
        ("CrmId", "string"),
        ("IsActive", "bool"),
        ("Partner_Tier__cf", "string"),
        ("Partner_Type__cf", "string"),
        ("Account_Status__cf", "string", True),
        ("Website", "string"),
        ("MailingCity", "string"),
        ("MailingCountry", "string"),
        ("Region", "lookup", False, "Region"),
        ("ParentAccount", "lookup", False, "Account"),
        ("PrimaryUser", "lookup", False, "User"),
        ("MemberCount", "int", True),
        ("RecordVersion", "int", True),
        ("Certification_Count__cf", "int"),
        ("Total_NPCU__cf", "double"),
        ("LMS_Account_ID__cf", "string"),
        ("LMS_Group_Name__cf", "string"),
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
        ("IsActive", "bool"),
        ("Account", "lookup", False, "Account"),
        ("AccountName", "string", True, None, _account_name),
        ("Contact_Status__cf", "string"),
        ("CrmId", "string"),
        ("RecordVersion", "int", True),
    ),
)

REGION = EntityDef("Region", _fields(*STANDARD, ("Name", "string")))

ENTITIES = {e.name.lower(): e for e in (ACCOUNT, USER, REGION)}
