"""`group_analysis` on a hand-built database: which domains count for a partner."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from partnersync.config import Settings
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
    assert found["g-solo", "u-second@solo.io"].reason == "domain"
