"""Changes applied to the data between two page requests, so offset paging shows its cracks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from partnersync.sandbox.data import Dataset
from partnersync.sandbox.knobs import PageMutation, PendingChange

K = TypeVar("K")


def apply(dataset: Dataset, mutation: PageMutation) -> None:
    """Touches, inserts or deletes `count` records of the listing's collection.

    The first records in creation order are the targets: they lie ahead of any cursor, and being
    the oldest they are usually outside an incremental window until touched.
    """
    with dataset.lock:
        for number in range(mutation.count):
            _apply_one(dataset, mutation, number)


def _apply_one(ds: Dataset, mutation: PageMutation, number: int) -> None:
    listing, action = mutation.listing, mutation.action
    if listing == "people":
        if action == "insert":
            ds.add_person(f"inserted.{ds.version}.{number}@example.org", "Inserted", "Person")
        else:
            target = _first(ds.people, number, action)
            (ds.touch_person if action == "touch" else ds.delete_person)(target)
    elif listing == "groups":
        if action == "insert":
            ds.add_group(f"Inserted group {ds.version}.{number}")
        else:
            target = _first(ds.groups, number, action)
            (ds.touch_group if action == "touch" else ds.delete_group)(target)
    elif listing == "courses":
        if action == "insert":
            ds.add_course(f"Inserted course {ds.version}.{number}")
        else:
            target = _first(ds.courses, number, action)
            (ds.touch_course if action == "touch" else ds.delete_course)(target)
    elif listing in ("Account", "User"):
        table = ds.impartner_table(listing)
        if action == "insert" and listing == "Account":
            ds.add_account(f"Inserted Account {ds.version}.{number}")
        elif action == "insert":
            ds.add_user(f"inserted.{ds.version}.{number}@example.org", "Inserted", "User")
        elif action == "touch":
            ds.update_record(listing, sorted(table)[number])
        else:
            ds.delete_record(listing, min(table))


def _first(table: Mapping[K, object], number: int, action: str) -> K:
    """Deletions always take the current first record; touches walk forward one by one."""
    keys = iter(table)
    if action == "touch":
        for _ in range(number):
            next(keys)
    return next(keys)


def apply_late(dataset: Dataset, pending: PendingChange) -> None:
    """Make a late change visible: touched or inserted records, stamped in the past."""
    change, stamp = pending.change, pending.stamp
    with dataset.change():
        for number in range(change.count):
            _stamp(_late_record(dataset, change.listing, change.action, number), stamp)


def _late_record(ds: Dataset, listing: str, action: str, number: int) -> object:
    label = f"late.{ds.version}.{number}"
    if action == "insert":
        if listing == "people":
            return ds.add_person(f"{label}@example.org", "Late", "Person")
        if listing == "groups":
            return ds.add_group(f"Late group {label}")
        if listing == "courses":
            return ds.add_course(f"Late course {label}")
        if listing == "Account":
            return ds.add_account(f"Late Account {label}")
        return ds.add_user(f"{label}@example.org", "Late", "User")
    if listing in ("Account", "User"):
        table = ds.impartner_table(listing)
        return table[sorted(table)[number]]
    records: Mapping[str, object] = getattr(ds, listing)
    return list(records.values())[number]


def _stamp(record: object, stamp: object) -> None:
    if hasattr(record, "Updated"):
        record.Updated = stamp
        if hasattr(record, "RecordVersion"):
            record.RecordVersion += 1
    else:
        record.updated_at = stamp  # type: ignore[attr-defined]
