"""Group ↔ partner matching: properties of `normalise` and the tiers, and real-world variants."""

from __future__ import annotations

from difflib import SequenceMatcher

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from partnersync.sync.matching import (
    _PartnerIndex,
    exact_key,
    is_all_partners,
    is_system_group,
    match_groups,
    match_groups_detailed,
    normalise,
)

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
company = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄÖÜéñø &.,-()'", min_size=1, max_size=30)


@given(names)
def test_normalise_is_idempotent(name: str) -> None:
    once = normalise(name)
    assert normalise(once) == once


@given(names)
def test_normalise_ignores_case_and_surrounding_space(name: str) -> None:
    assert normalise(f"  {name.upper()} ") == normalise(name.lower().upper())


@given(st.lists(company, min_size=1, max_size=12, unique_by=exact_key), st.data())
def test_a_group_named_like_a_partner_matches_it(
    partner_names: list[str], data: st.DataObject
) -> None:
    partners = list(enumerate(partner_names))
    target, name = data.draw(st.sampled_from(partners))
    assume(name.strip() and not is_system_group(name))
    spelled = data.draw(st.sampled_from([name, name.upper(), f" {name.lower()}  "]))
    assert match_groups([("g", spelled)], partners) == {"g": target}


@given(st.lists(company, min_size=1, max_size=12, unique_by=exact_key), st.data())
def test_ptr_prefix_plus_partner_name_matches_it(
    partner_names: list[str], data: st.DataObject
) -> None:
    partners = list(enumerate(partner_names))
    target, name = data.draw(st.sampled_from(partners))
    prefixed = data.draw(st.sampled_from(["ptr_", "PTR_", "Ptr "])) + name
    taken = {exact_key(other) for _, other in partners}
    assume(name.strip() and exact_key(prefixed) not in taken)
    assert match_groups([("g", prefixed)], partners) == {"g": target}


@given(st.lists(st.tuples(st.text(max_size=20), company), max_size=10))
def test_matches_point_at_given_partners_only(pairs: list[tuple[str, str]]) -> None:
    partners = list(enumerate(name for _, name in pairs))
    groups = [(f"g{i}", name) for i, (name, _) in enumerate(pairs)]
    result = match_groups(groups, partners)
    assert set(result) <= {group_id for group_id, _ in groups}
    assert set(result.values()) <= {partner_id for partner_id, _ in partners}


similar = st.text(alphabet="abc d", min_size=1, max_size=14)


@given(
    st.lists(similar, min_size=1, max_size=15),
    similar,
    st.sampled_from([0.5, 0.7, 0.85, 0.92]),
)
def test_fuzzy_candidate_filter_loses_nothing(
    partner_names: list[str], group: str, threshold: float
) -> None:
    """The trigram pre-filter must find exactly what comparing with every partner finds."""
    core = normalise(group)
    assume(core)
    scores: dict[int, float] = {}
    for partner_id, name in enumerate(partner_names):
        other = normalise(name)
        if other:
            scores[partner_id] = SequenceMatcher(None, other, core, autojunk=False).ratio()
    best = max((s for s in scores.values() if s >= threshold), default=None)
    expected = {p for p, s in scores.items() if s == best}
    found, _ = _PartnerIndex(enumerate(partner_names)).fuzzy(core, threshold)
    assert found == expected


PARTNERS = [
    (1, "Blue Consulting Inc."),
    (2, "Smith & Sons Co., Ltd."),
    (3, "Société Générale Informatique S.A."),
    (4, "Nordlicht Systemhaus GmbH"),
    (5, "Apex Data Pty Ltd"),
    (6, "Vertex Analytics LLC"),
    (7, "Vertex Analytics Ltd"),  # same core as 6: only exact names can tell them apart
    (8, "Pinnacle Workflow Solutions Limited"),
    (9, "Orion Cloud Services"),
    (10, "Orion Cloud Servers"),
]


@pytest.mark.parametrize(
    ("group", "partner", "tier"),
    [
        ("Blue Consulting Inc.", 1, "exact"),
        ("BLUE CONSULTING INC.", 1, "exact"),
        ("  blue consulting inc.  ", 1, "exact"),
        ("ptr_Blue Consulting Inc.", 1, "ptr"),
        ("PTR_blue consulting inc.", 1, "ptr"),
        ("Blue Consulting", 1, "normalised"),
        ("Blue Consulting, LLC", 1, "normalised"),
        ("ptr_Blue Consulting", 1, "normalised"),
        ("Smith and Sons", 2, "normalised"),
        ("Smith & Sons Co Ltd", 2, "normalised"),
        ("Societe Generale Informatique", 3, "normalised"),
        ("Société Générale Informatique (France)", 3, "normalised"),
        ("Nordlicht Systemhaus AG", 4, "normalised"),
        ("Apex Data Pty. Ltd.", 5, "normalised"),
        ("Vertex Analytics LLC", 6, "exact"),
        ("Vertex Analytics Ltd", 7, "exact"),
        ("Pinnacle Workflow Solution", 8, "fuzzy"),
        ("Pinnacle Workflow-Solutions Ltd", 8, "normalised"),
    ],
)
def test_real_world_variants(group: str, partner: int, tier: str) -> None:
    result = match_groups_detailed([("g", group)], PARTNERS)
    assert result.matches["g"].partner_id == partner
    assert result.matches["g"].tier == tier


@pytest.mark.parametrize(
    "group",
    [
        "All Partners",
        "ALL PARTNERS ",
        "All Users",
        "Internal Staff",
        "Customers - EMEA",
        "Blue",  # a prefix is not a match
        "Vertex Analytics",  # two partners normalise to this: ambiguous
        "Orion Cloud Serv",  # equally close to two partners: ambiguous
        "",
        "   ",
        "Inc.",
    ],
)
def test_unrelated_system_and_ambiguous_groups_stay_unlinked(group: str) -> None:
    assert match_groups([("g", group)], PARTNERS) == {}


def test_ambiguous_groups_are_reported() -> None:
    result = match_groups_detailed([("g1", "Vertex Analytics"), ("g2", "Blue")], PARTNERS)
    assert result.ambiguous == {"g1"}
    assert result.matches == {}


def test_partners_without_a_name_are_ignored() -> None:
    assert match_groups([("g", "Acme")], [(1, None), (2, " "), (3, "Acme Inc")]) == {"g": 3}


def test_several_groups_may_link_to_one_partner() -> None:
    groups = [("a", "Blue Consulting Inc."), ("b", "ptr_Blue Consulting Inc.")]
    assert match_groups(groups, PARTNERS) == {"a": 1, "b": 1}


def test_fuzzy_threshold_is_a_parameter() -> None:
    groups = [("g", "Pinnacle Wrkflw Soltns")]
    assert match_groups(groups, PARTNERS) == {}
    assert match_groups(groups, PARTNERS, threshold=0.85) == {"g": 8}


def test_system_group_names() -> None:
    assert is_all_partners(" all partners") and is_all_partners("ALL PARTNER")
    assert is_system_group("All Users") and not is_all_partners("All Users")
    assert not is_system_group("All Partners Europe")


def test_a_group_of_an_inactive_partner_does_not_fall_through_to_a_look_alike() -> None:
    active = [(1, "Western Shift LLC")]
    inactive = [(2, "Eastern Shift Ltd")]
    group = [("g", "Eastern Shift Inc")]
    assert match_groups(group, active) == {"g": 1}  # what fuzzy alone would do
    result = match_groups_detailed(group, active, unlinkable=inactive)
    assert result.matches == {} and result.unlinkable == {"g": {2}}


def test_the_linkable_partner_wins_over_an_unlinkable_namesake() -> None:
    result = match_groups(
        [("g", "ptr_Acme Inc")], [(1, "Acme Inc")], unlinkable=[(2, "Acme Inc"), (3, "ACME")]
    )
    assert result == {"g": 1}


def test_the_candidate_filter_loses_nothing_on_every_short_name() -> None:
    """Exhaustive over short names, so the pre-filter's bounds are met exactly at their edges
    (a random sample rarely lands on a length or trigram count that sits on the bound)."""
    import itertools

    words = ["".join(p) for n in range(1, 6) for p in itertools.product("ab", repeat=n)]
    words += ["a b", "ab ab", "aa bb", "abc", "abcd", "bcd a"]
    index = _PartnerIndex(enumerate(words))
    for threshold in (0.5, 0.75, 0.85):
        for core in words:
            scores = {
                p: SequenceMatcher(None, normalise(w), core, autojunk=False).ratio()
                for p, w in enumerate(words)
            }
            best = max((s for s in scores.values() if s >= threshold), default=None)
            expected = {p for p, s in scores.items() if s == best} if best else set()
            found, score = index.fuzzy(core, threshold)
            assert found == expected, (core, threshold)
            assert score == (best or score)


def test_each_tier_reports_its_score_and_counts() -> None:
    partners = [(1, "Blue Consulting Inc."), (2, "Pinnacle Workflow Solutions Limited")]
    groups = [
        ("g1", "Blue Consulting Inc."),
        ("g2", "ptr_Blue Consulting Inc."),
        ("g3", "Blue Consulting"),
        ("g4", "Pinnacle Workflow Solution"),
        ("g5", "Blue Consulting, LLC"),
    ]
    result = match_groups_detailed(groups, partners)
    assert [(m.tier, m.score) for m in result.matches.values()][:3] == [
        ("exact", 1.0),
        ("ptr", 1.0),
        ("normalised", 1.0),
    ]
    assert 0.85 <= result.matches["g4"].score < 1.0
    assert result.tiers() == {"exact": 1, "ptr": 1, "normalised": 2, "fuzzy": 1}


def test_blank_and_system_group_names_are_never_matched() -> None:
    partners = [(1, "All Partners"), (2, "   "), (3, "Acme")]
    groups = [("g1", "All Partners"), ("g2", "   "), ("g3", ""), ("g4", None), ("g5", "Acme")]
    assert match_groups(groups, partners) == {"g5": 3}


def test_an_unlinkable_partner_is_passed_through_match_groups() -> None:
    group, active = [("g", "Eastern Shift Inc")], [(1, "Western Shift LLC")]
    assert match_groups(group, active, unlinkable=[(2, "Eastern Shift Ltd")]) == {}


def test_the_candidate_filter_finds_a_lone_partner_right_at_the_threshold() -> None:
    """Each short name as the only partner: a candidate whose best possible ratio equals the
    threshold exactly (length 1 against 3 at 0.5) must still be compared."""
    import itertools

    words = ["".join(p) for n in range(1, 5) for p in itertools.product("ab", repeat=n)]
    for threshold in (0.5, 0.75):
        for partner in words:
            index = _PartnerIndex([(1, partner)])
            for core in words:
                ratio = SequenceMatcher(None, partner, core, autojunk=False).ratio()
                found, _ = index.fuzzy(core, threshold)
                assert found == ({1} if ratio >= threshold else set()), (partner, core)


def test_a_name_that_is_only_a_prefix_or_a_legal_suffix_is_kept() -> None:
    assert normalise("PTR") == "ptr"
    assert normalise("Ltd.") == "ltd"
    assert normalise("ptr_GmbH") == "gmbh"


def test_the_candidate_filter_loses_nothing_on_longer_names() -> None:
    """Names long enough for the trigram bound (not the length bound) to decide."""
    import random

    rng = random.Random(5)
    words = sorted(
        {"".join(rng.choice("abc ") for _ in range(rng.randint(6, 12))).strip() for _ in range(160)}
    )
    words = [w for w in words if len(normalise(w)) >= 6]
    index = _PartnerIndex(enumerate(words))
    cores = [normalise(w) for w in words]
    for threshold in (0.6, 0.8):
        for core in cores[::3]:
            scores = {
                p: SequenceMatcher(None, other, core, autojunk=False).ratio()
                for p, other in enumerate(cores)
            }
            best = max((s for s in scores.values() if s >= threshold), default=None)
            expected = {p for p, s in scores.items() if s == best} if best else set()
            assert index.fuzzy(core, threshold)[0] == expected, (core, threshold)


@pytest.mark.parametrize(
    ("partner", "group"),
    [("Datacom", "Datcom"), ("Zenith", "Zenit"), ("Kappa", "Kapa"), ("Apex Data", "Apex Date")],
)
def test_a_one_letter_slip_in_a_short_name_stays_a_candidate(partner: str, group: str) -> None:
    """Short names share few trigrams, so the pre-filter's bound sits close to what one edit
    leaves: a filter counting longer grams (or demanding more of them) loses these matches."""
    result = match_groups_detailed([("g", group)], [(1, partner)], threshold=0.85)
    assert result.matches["g"].partner_id == 1


def test_a_long_name_one_letter_off_is_still_found() -> None:
    """difflib's autojunk treats characters frequent in a text of 200 or more as junk, which
    would make two long names look unrelated; the matcher must compare them whole."""
    partner = "Northern Lights Systems Integration and Managed Cloud Services " * 4
    group = partner.replace("Managed", "Manged", 1)
    assert len(normalise(partner)) >= 200
    result = match_groups_detailed([("g", group)], [(1, partner)])
    assert result.matches["g"].tier == "fuzzy"


def test_a_group_that_matches_nothing_does_not_stop_the_ones_after_it() -> None:
    partners = [(1, "Acme"), (2, "Blue Consulting")]
    groups = [("g1", "Acme"), ("g2", "Nothing Like Any Partner"), ("g3", "Blue Consulting")]
    assert match_groups(groups, partners) == {"g1": 1, "g3": 2}
