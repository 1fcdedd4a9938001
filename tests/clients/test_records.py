"""Record models from literal JSON: flattening, casing, time zones, and skip-with-reason."""

from __future__ import annotations

import datetime as dt

import pytest

from partnersync.clients.records import (
    ImpartnerAccount,
    ImpartnerUser,
    NorthpassCourseEnrollment,
    NorthpassCourseProperties,
    NorthpassGroup,
    NorthpassMembership,
    NorthpassPerson,
    Skipped,
    TranscriptItem,
    parse_records,
)

UTC = dt.UTC


def test_northpass_person_is_flattened_and_normalised() -> None:
    raw = {
        "id": "p-1",
        "type": "people",
        "attributes": {
            "email": "  Ada.Lovelace@Example.COM ",
            "first_name": "Ada",
            "updated_at": "2020-03-31T17:15:17Z",
            "something_new": {"ignored": True},
        },
        "relationships": {"groups": {"data": []}},
        "links": {"self": {"href": "x"}},
    }
    [person], skipped = parse_records([raw], NorthpassPerson)
    assert skipped == []
    assert person.id == "p-1"
    assert person.email == "ada.lovelace@example.com"
    assert person.updated_at == dt.datetime(2020, 3, 31, 17, 15, 17, tzinfo=UTC)


def test_malformed_records_are_skipped_with_reasons_and_the_rest_kept() -> None:
    good = {"id": "ok", "attributes": {"email": "a@b.c"}}
    raws = [
        good,
        {"attributes": {"email": "no-id@b.c"}},
        {"id": "", "attributes": {}},
        {"id": "bad-date", "attributes": {"updated_at": "31/03/2020"}},
        {"id": "naive", "attributes": {"created_at": "2020-03-31T17:15:17"}},
        {"id": "wrong-type", "attributes": {"email": 42}},
        "not even an object",
    ]
    people, skipped = parse_records(raws, NorthpassPerson)
    assert [p.id for p in people] == ["ok"]
    assert [s.id for s in skipped] == [None, None, "bad-date", "naive", "wrong-type", None]
    assert all(isinstance(s, Skipped) and s.reason for s in skipped)
    assert "updated_at" in skipped[2].reason
    assert "UTC offset" in skipped[3].reason
    assert "email" in skipped[4].reason


def test_membership_reads_the_person_from_relationships() -> None:
    raw = {"id": "m-1", "relationships": {"person": {"data": {"type": "people", "id": "p-9"}}}}
    assert parse_records([raw], NorthpassMembership)[0][0].person_id == "p-9"
    _, skipped = parse_records([{"id": "m-2", "attributes": {}}], NorthpassMembership)
    assert skipped[0].reason.startswith("person_id")


def test_course_enrollment_takes_person_from_attribute_or_relationship() -> None:
    by_attribute = {"id": "e1", "attributes": {"person_id": "p1", "progress": 50}}
    by_relationship = {
        "id": "e2",
        "attributes": {"progress": 100.0, "enrolled_at": "2024-01-02T03:04:05Z"},
        "relationships": {"person": {"data": {"type": "people", "id": "p2"}}},
    }
    rows, skipped = parse_records([by_attribute, by_relationship], NorthpassCourseEnrollment)
    assert skipped == []
    assert [(r.person_id, r.progress) for r in rows] == [("p1", 50.0), ("p2", 100.0)]


def test_group_member_count_accepts_each_known_spelling() -> None:
    rows, _ = parse_records(
        [
            {"id": "g1", "attributes": {"memberships_count": 3}},
            {"id": "g2", "attributes": {"membership_count": 4}},
            {"id": "g3", "attributes": {"user_count": 5}},
        ],
        NorthpassGroup,
    )
    assert [g.memberships_count for g in rows] == [3, 4, 5]


@pytest.mark.parametrize(
    ("raw", "npcu", "invalid"),
    [
        (2, 2, False),
        ("1", 1, False),
        (" 0 ", 0, False),
        (2.0, 2, False),
        (None, None, False),
        ("", None, False),
        ("two", None, True),
        (1.5, None, True),
        (True, None, True),
    ],
)
def test_npcu_is_read_strictly_and_invalid_values_are_flagged(
    raw: object, npcu: int | None, invalid: bool
) -> None:
    props = NorthpassCourseProperties.model_validate(
        {"id": "c1", "attributes": {"properties": {"name": "Course", "npcu": raw}}}
    )
    assert (props.npcu, props.npcu_invalid, props.npcu_raw) == (npcu, invalid, raw)
    assert props.name == "Course"


def test_transcript_item_needs_a_resource() -> None:
    raws = [
        {
            "id": "t1",
            "attributes": {
                "resource_id": "c1",
                "resource_type": "course",
                "progress_status": "completed",
                "completed_at": "2024-05-01T10:00:00Z",
            },
        },
        {"id": "t2", "attributes": {"resource_type": "course"}},
    ]
    items, skipped = parse_records(raws, TranscriptItem)
    assert items[0].completed_at == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert skipped == [Skipped("t2", "resource_id: Field required")]


def test_impartner_account_parses_jsonnet_camel_case_and_converts_offsets() -> None:
    raw = {
        "id": 4711,
        "name": "Acme",
        "partner_Tier__cf": "Premier",
        "account_Status__cf": "Active",
        "crmId": "0015000000abcdeAAA",
        "regionId": 3,
        "parentAccountId": None,
        "isActive": True,
        "updated": "2022-05-16T19:27:14-06:00",
        "tpA_Product_s__cf": ["a", "b"],
    }
    [account], skipped = parse_records([raw], ImpartnerAccount)
    assert skipped == []
    assert (account.partner_tier, account.account_status) == ("Premier", "Active")
    assert (account.crm_id, account.region_id) == ("0015000000abcdeAAA", 3)
    assert account.updated == dt.datetime(2022, 5, 17, 1, 27, 14, tzinfo=UTC)


def test_pascal_case_keys_are_not_silently_accepted_as_values() -> None:
    """The original system read `CrmId` from list results; real answers are camelCase."""
    [account], _ = parse_records(
        [{"id": 1, "CrmId": "x", "Partner_Tier__cf": "P"}], ImpartnerAccount
    )
    assert account.crm_id is None and account.partner_tier is None


def test_impartner_user_email_and_bad_ids() -> None:
    users, skipped = parse_records(
        [
            {"id": 1, "email": " Bob@Partner.COM", "accountId": 9, "contact_Status__cf": "Active"},
            {"id": "abc", "email": "x@y.z"},
            {"email": "no-id@y.z"},
        ],
        ImpartnerUser,
    )
    assert [(u.id, u.email, u.account_id) for u in users] == [(1, "bob@partner.com", 9)]
    assert [s.id for s in skipped] == ["abc", None]
