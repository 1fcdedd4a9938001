from collections import Counter
from datetime import UTC, datetime

import pytest

from partnersync.sandbox import names
from partnersync.sandbox.data import Dataset
from partnersync.sandbox.generator import ALL_PARTNERS, MALFORMED_DATE, generate

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def fixed() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return generate("tiny", 1, fixed)


def snapshot(ds: Dataset) -> tuple[object, ...]:
    return (
        list(ds.people.values()),
        list(ds.groups.values()),
        ds.memberships,
        list(ds.courses.values()),
        ds.course_properties,
        ds.transcripts,
        list(ds.accounts.values()),
        list(ds.users.values()),
        ds.deleted,
    )


def test_same_seed_gives_the_same_data_and_another_seed_does_not(tiny: Dataset) -> None:
    assert snapshot(generate("tiny", 1, fixed)) == snapshot(tiny)
    assert list(generate("tiny", 2, fixed).people) != list(tiny.people)


def test_tiny_covers_tiers_statuses_and_a_nameless_account(tiny: Dataset) -> None:
    accounts = tiny.accounts.values()
    assert {a.Partner_Tier__cf for a in accounts} >= {
        "Premier",
        "Premier Plus",
        "Certified",
        "Registered",
        "Aggregator",
        "Pending",
    }
    assert any(a.Account_Status__cf == "Inactive" and not a.IsActive for a in accounts)
    assert any(a.Name is None for a in accounts)
    assert all(len(a.CrmId) == 18 for a in accounts if a.CrmId)


def test_groups_are_named_after_accounts_in_real_world_variants(tiny: Dataset) -> None:
    group_names = [g.name for g in tiny.groups.values()]
    account_names = {a.Name for a in tiny.accounts.values() if a.Name}
    assert ALL_PARTNERS in group_names
    assert any(n in account_names for n in group_names)
    assert any(n.startswith("ptr_") for n in group_names)
    assert any(n.isupper() for n in group_names) and any(n.islower() for n in group_names)
    assert any("," in n for n in group_names if n not in account_names)  # punctuation variant
    unrelated = [
        n for n in group_names if not any(a.lower().split()[0] in n.lower() for a in account_names)
    ]
    assert len(unrelated) >= 3  # two unrelated groups plus "All Partners"


def test_people_share_domains_with_contacts_and_include_oddities(tiny: Dataset) -> None:
    people = list(tiny.people.values())
    contact_emails = {u.Email.lower() for u in tiny.users.values()}
    contact_domains = {e.split("@")[1] for e in contact_emails}
    emails = [p.email for p in people if p.email]
    assert any(p.email is None for p in people)
    assert any(e != e.strip().lower() for e in emails)
    assert any(
        e.endswith("@gmail.com")
        or (
            "@" in e and e.split("@")[1] in ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com")
        )
        for e in emails
    )
    assert sum(e.strip().lower() in contact_emails for e in emails) >= 5
    assert any(not p.full_name.isascii() for p in people)
    grouped = set(tiny.person_groups)
    orphans = [
        p
        for p in people
        if p.email and p.id not in grouped and p.email.split("@")[1] in contact_domains
    ]
    assert orphans, "people on a partner's domain but in no group"


def test_courses_carry_valid_and_invalid_npcu_and_forbidden_properties(tiny: Dataset) -> None:
    values = [p.get("npcu", "missing") for p in tiny.course_properties.values()]
    assert {0, 1, 2, "abc", 7, "missing"} <= set(values)
    assert {c.status for c in tiny.courses.values()} == {"live", "draft", "archived"}
    assert tiny.forbidden_property_ids
    deleted = set(tiny.course_properties) - set(tiny.courses)
    assert deleted and deleted <= tiny.forbidden_property_ids


def test_transcripts_have_every_status_expiry_and_a_malformed_date(tiny: Dataset) -> None:
    items = [i for items in tiny.transcripts.values() for i in items]
    assert {i.progress_status for i in items} == {"completed", "in_progress", "enrolled"}
    assert {i.resource_type for i in items} == {"course", "learning_path"}
    completed = [i for i in items if i.progress_status == "completed"]
    assert any(i.expires_at and i.expires_at < NOW for i in completed)
    assert any(i.expires_at and i.expires_at > NOW for i in completed)
    assert any(i.expires_at is None for i in completed)
    assert any(i.completed_at == MALFORMED_DATE for i in items)
    assert any(not tiny.transcripts.get(pid) for pid in tiny.person_groups)  # no activity


def test_enrollments_index_matches_transcripts(tiny: Dataset) -> None:
    pairs = {
        (i.resource_id, i.person_id)
        for items in tiny.transcripts.values()
        for i in items
        if i.resource_type == "course"
    }
    assert pairs == {(c, p) for c, people in tiny.enrollments.items() for p in people}


def test_some_people_share_an_update_second(tiny: Dataset) -> None:
    counts = Counter(p.updated_at for p in tiny.people.values())
    assert counts.most_common(1)[0][1] >= 4


def test_impartner_history_and_member_counts(tiny: Dataset) -> None:
    assert tiny.deleted["Account"] and tiny.deleted["User"]
    members = Counter(u.Account for u in tiny.users.values() if u.Account)
    assert all(a.MemberCount == members[a.Id] for a in tiny.accounts.values())
    assert any(u.Account is None for u in tiny.users.values())


def test_tiny_has_people_who_left_and_a_person_in_two_partners(tiny: Dataset) -> None:
    """What offboarding acts on: a contact who left and a partner that went inactive, their
    people still in the groups, and one person who is an active contact of two partners."""
    contacts: dict[str, list[tuple[int, bool]]] = {}
    for user in tiny.users.values():
        if user.Account is not None:
            contacts.setdefault(str(user.Email).lower(), []).append((user.Account, user.IsActive))
    grouped = {p: g for g, members in tiny.memberships.items() for p in members}

    def of(person_id: str) -> list[tuple[int, bool]]:
        return contacts.get(str(tiny.people[person_id].email).lower(), [])

    active = {a.Id for a in tiny.accounts.values() if a.IsActive}
    assert any(not on and a in active for p in grouped for a, on in of(p))
    assert any(a not in active for p in grouped for a, _ in of(p))
    two = [p for p in grouped if len({a for a, on in of(p) if on and a in active}) == 2]
    assert len(two) == 1 and len(tiny.person_groups[two[0]]) >= 2  # both partners' groups


def test_reference_size_matches_the_production_shape() -> None:
    ds = generate("reference", 7, fixed)
    assert len(ds.people) == 33_000
    assert len(ds.groups) == 1_600
    assert len(ds.courses) == 450
    assert len(ds.accounts) == 2_000
    assert len(ds.users) == 40_000
    unrelated = (ALL_PARTNERS, *names.UNRELATED_GROUPS)
    partner_people = {
        p
        for g in ds.groups.values()
        if not g.name.startswith(unrelated)
        for p in ds.memberships[g.id]
    }
    assert 4_000 <= len(partner_people) <= 5_000
    items = sum(len(ds.transcripts.get(p, [])) for p in partner_people)
    assert 5 <= items / len(partner_people) <= 7
