"""`group_analysis` on a hand-built database: which domains count for a partner, what evidence a
suggestion records, and one row per (group, person) across runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from partnersync.config import Settings
from partnersync.db.schema import (
    contacts,
    group_analysis_suggestions,
    lms_group_members,
)
from partnersync.db.types import utcnow
from partnersync.tasks import analysis
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.runner import RunOutcome, run_task

from .conftest import add_partner, add_people


def analyse(engine: Engine, **env: Any) -> RunOutcome:
    outcome = run_task(engine, Settings(**env), "group_analysis", TASK_FUNCTIONS["group_analysis"])
    assert outcome.status == "success", outcome.error
    return outcome


def suggested(engine: Engine) -> dict[tuple[str, str], analysis.Suggestion]:
    """The latest run's suggestions by (group, user)."""
    with engine.connect() as c:
        return {(s.group_id, s.user_id): s for s in analysis.list_suggestions(c)}


def every_row(engine: Engine) -> list[tuple[str, str, str]]:
    """Every stored suggestion, of any run: (group, user, status)."""
    s = group_analysis_suggestions.c
    with engine.connect() as c:
        rows = c.execute(select(s.group_id, s.user_id, s.status).order_by(s.group_id, s.user_id))
        return [(group, user, status) for group, user, status in rows]


def cedar_and_pine(engine: Engine) -> None:
    """Cedar Works has one stray contact with Pine Scale's address among its four."""
    with engine.begin() as c:
        add_partner(
            c,
            1,
            "Cedar Works",
            ["ann@cedarworks.com", "bob@cedarworks.com", "cy@cedarworks.com", "dee@pinescale.com"],
            group="g-cedar",
        )
        add_partner(c, 2, "Pine Scale", ["eve@pinescale.com", "fay@pinescale.com"], group="g-pine")
        add_people(c, "new@cedarworks.com", "p1@pinescale.com", "p2@pinescale.com")


def test_a_stray_contact_does_not_give_a_partner_another_companys_people(engine: Engine) -> None:
    cedar_and_pine(engine)
    analyse(engine)
    found = suggested(engine)
    assert sorted(found) == [
        ("g-cedar", "u-new@cedarworks.com"),
        ("g-pine", "u-p1@pinescale.com"),
        ("g-pine", "u-p2@pinescale.com"),
    ]
    assert found["g-cedar", "u-new@cedarworks.com"].evidence == (
        "3 of 4 active contacts of Cedar Works use cedarworks.com"
    )
    assert found["g-pine", "u-p1@pinescale.com"].evidence == (
        "2 of 2 active contacts of Pine Scale use pinescale.com"
    )


def test_the_thresholds_are_settings(engine: Engine) -> None:
    cedar_and_pine(engine)
    analyse(
        engine, PARTNERSYNC_ANALYSIS_MIN_DOMAIN_CONTACTS=4, PARTNERSYNC_ANALYSIS_MIN_DOMAIN_SHARE=1
    )
    assert {group for group, _ in suggested(engine)} == {"g-pine"}  # 2 of 2; Cedar's 3 of 4 not


def test_a_domain_two_partners_use_counts_for_neither(engine: Engine) -> None:
    with engine.begin() as c:
        add_partner(
            c,
            1,
            "Alpha",
            ["a1@shared.com", "a2@shared.com", "a3@alpha.com", "a4@alpha.com"],
            "g-alpha",
        )
        add_partner(c, 2, "Beta", ["b1@shared.com"])  # no group: still claims the domain
        add_people(c, "x@shared.com", "y@alpha.com")
    analyse(engine)
    assert sorted(suggested(engine)) == [("g-alpha", "u-y@alpha.com")]


def test_a_configured_domain_counts_as_the_operator_chose(engine: Engine) -> None:
    with engine.begin() as c:
        add_partner(c, 1, "Alpha", ["a1@shared.com", "a2@shared.com"], "g-alpha")
        add_partner(c, 2, "Beta", ["b1@shared.com"], "g-beta")
        add_people(c, "x@shared.com", "z@alpha.de", "public@gmail.com")
    analyse(engine, PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS='{"g-alpha": ["shared.com", "alpha.de"]}')
    found = suggested(engine)
    assert sorted(found) == [("g-alpha", "u-x@shared.com"), ("g-alpha", "u-z@alpha.de")]
    assert found["g-alpha", "u-x@shared.com"].evidence == (
        "shared.com is configured for the group (PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS)"
    )
    assert {s.reason for s in found.values()} == {"configured_domain"}


def test_a_partner_with_one_contact_keeps_its_domain_but_never_a_public_one(
    engine: Engine,
) -> None:
    with engine.begin() as c:
        add_partner(c, 1, "Solo", ["only@solo.io"], "g-solo")
        add_partner(c, 2, "Freemail", ["f1@gmail.com", "f2@gmail.com"], "g-free")
        add_people(c, "second@solo.io", "someone@gmail.com")
    analyse(engine)
    found = suggested(engine)
    assert list(found) == [("g-solo", "u-second@solo.io")]
    assert found["g-solo", "u-second@solo.io"].evidence == (
        "1 of 1 active contact of Solo uses solo.io"
    )
    assert found["g-solo", "u-second@solo.io"].reason == "domain"


def test_a_second_run_updates_the_same_rows(engine: Engine) -> None:
    cedar_and_pine(engine)
    first = analyse(engine)
    ids = {key: s.id for key, s in suggested(engine).items()}
    second = analyse(engine)
    again = suggested(engine)
    assert {key: s.id for key, s in again.items()} == ids
    assert len(every_row(engine)) == len(ids) == 3
    with engine.connect() as c:
        assert {s.run_id for s in again.values()} == {analysis.latest_run_id(c)}
    assert first.report.total("created") == 3
    assert (second.report.total("created"), second.report.total("unchanged")) == (0, 3)


def test_an_accepted_suggestion_has_no_open_twin_and_is_never_reopened(engine: Engine) -> None:
    cedar_and_pine(engine)
    analyse(engine)
    analyse(engine)
    key = ("g-pine", "u-p1@pinescale.com")
    with engine.begin() as c:
        assert analysis.accept(c, [suggested(engine)[key].id], utcnow()).done
        # Northpass later drops the membership: the operator's decision still stands
        c.execute(update(lms_group_members).values(deleted_at=utcnow()))
    analyse(engine)
    rows = every_row(engine)
    assert [row for row in rows if row[:2] == key] == [(*key, "accepted")]
    assert len(rows) == 3


def test_a_dismissed_suggestion_stays_dismissed(engine: Engine) -> None:
    cedar_and_pine(engine)
    analyse(engine)
    key = ("g-cedar", "u-new@cedarworks.com")
    with engine.begin() as c:
        assert analysis.dismiss(c, [suggested(engine)[key].id]).done
    analyse(engine)
    assert key not in suggested(engine)
    assert [row for row in every_row(engine) if row[:2] == key] == [(*key, "dismissed")]


def test_open_suggestions_follow_the_evidence_and_go_when_the_person_no_longer_qualifies(
    engine: Engine,
) -> None:
    cedar_and_pine(engine)
    analyse(engine)
    before = suggested(engine)
    with engine.begin() as c:
        c.execute(
            insert(contacts).values(
                impartner_id=9001,
                email="hal@cedarworks.com",
                email_domain="cedarworks.com",
                partner_id=1,
            )
        )
        c.execute(
            insert(lms_group_members).values(
                group_id="g-pine", user_id="u-p1@pinescale.com", status="confirmed"
            )
        )
    outcome = analyse(engine)
    after = suggested(engine)
    cedar = ("g-cedar", "u-new@cedarworks.com")
    assert after[cedar].id == before[cedar].id
    assert after[cedar].evidence == "4 of 5 active contacts of Cedar Works use cedarworks.com"
    assert ("g-pine", "u-p1@pinescale.com") not in after  # joined the group
    assert len(every_row(engine)) == 2  # its open suggestion was removed, not left behind
    assert (outcome.report.total("updated"), outcome.report.total("deleted")) == (1, 1)

    with engine.begin() as c:  # Pine Scale's contacts leave: its domain no longer counts
        c.execute(update(contacts).where(contacts.c.partner_id == 2).values(is_active=False))
    analyse(engine)
    assert list(suggested(engine)) == [cedar]
    with engine.connect() as c:
        s = group_analysis_suggestions.c
        assert c.scalar(select(func.count()).where(s.status == "open")) == 1
