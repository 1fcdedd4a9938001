"""Group ↔ partner matching by name (docs/design.md §3), as pure functions.

Tiers, strongest first; a group takes the first tier that finds a candidate, and a tier
that finds several partners is ambiguous and links nothing (a wrong link is worse than
none: certification counts follow it):

1. `exact`: the whole name, case-insensitive (surrounding and repeated spaces ignored);
2. `ptr`: the name without a `ptr_` / `ptr ` prefix, case-insensitive;
3. `normalised`: `normalise()` equality (accents, punctuation, legal suffixes, parentheticals);
4. `fuzzy`: difflib ratio of normalised names ≥ threshold, only when one partner is best.

Partners that may not be linked (inactive, deleted) still take part as `unlinkable`: when
a tier's candidates are all unlinkable, the group belongs to such a partner and stays
unlinked, instead of falling through to a weaker tier and a look-alike ("Eastern Shift Inc"
of an inactive partner must not fuzzy-match the active "Western Shift LLC"). Where a tier
finds both, the linkable partner wins (an account re-created under the same name).

The caller decides which groups may be re-linked (never manually linked ones); this module
never touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

DEFAULT_THRESHOLD = 0.92

ALL_PARTNERS = "all partners"
SYSTEM_GROUPS = frozenset({ALL_PARTNERS, "all partner", "all users", "all user"})

LEGAL_SUFFIXES = frozenset(
    (
        *("inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "plc", "pty"),
        *("co", "corp", "corporation", "company", "gmbh", "mbh", "ag", "sa", "sas"),
        *("srl", "spa", "bv", "nv", "ab", "as", "oy", "oyj", "kk", "pte", "pvt"),
    )
)

_PTR_PREFIX = re.compile(r"^ptr(?:_|-|\s+)", re.IGNORECASE)
_PARENTHETICAL = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_JOINERS = re.compile(r"[.'’`´]")  # "S.A." → "sa", "O'Brien" → "obrien"
_SEPARATORS = re.compile(r"[\W_]+")


def exact_key(name: str) -> str:
    """Case-insensitive form that ignores surrounding and repeated whitespace only."""
    return " ".join(name.split()).casefold()


def without_ptr(name: str) -> str:
    """The name without one leading `ptr_` / `ptr ` / `ptr-` prefix (any case)."""
    return _PTR_PREFIX.sub("", name.strip())  # anchored: at most one prefix goes


def is_system_group(name: str) -> bool:
    """Groups every partner shares ("All Partners", "All Users"): never linked to one partner."""
    return exact_key(name) in SYSTEM_GROUPS


def is_all_partners(name: str) -> bool:
    return exact_key(name) in (ALL_PARTNERS, "all partner")


def _fold(text: str) -> str:
    """Casefold and strip accents: "Société Zürich" → "societe zurich"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFKC", stripped).casefold()


def normalise(name: str) -> str:
    """The comparable core of a company name.

    Lower-cased, accents stripped, `ptr_` prefix, parentheticals and trailing legal
    suffixes (Inc., GmbH, Pty Ltd, Co., Ltd. ...) dropped, `&` read as "and", punctuation
    turned into single spaces. A name made only of such parts keeps its last word, so
    nothing normalises to the empty string unless it has no letters or digits at all.
    """
    text = _fold(name)
    text = _PARENTHETICAL.sub(" ", text)
    text = text.replace("&", " and ")
    text = _JOINERS.sub("", text)
    tokens = _SEPARATORS.sub(" ", text).split()
    while len(tokens) > 1 and tokens[0] == "ptr":
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


@dataclass(frozen=True)
class Match:
    partner_id: int
    tier: str  # exact / ptr / normalised / fuzzy
    score: float = 1.0


@dataclass
class MatchResult:
    """Matches by group id; groups left unmatched as several partners fit, or an unlinkable one."""

    matches: dict[str, Match] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)
    unlinkable: dict[str, frozenset[int]] = field(default_factory=dict)
    """Groups that belong to unlinkable partners only, with those partners."""

    def tiers(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for match in self.matches.values():
            counts[match.tier] += 1
        return dict(counts)


class _PartnerIndex:
    """Partners indexed by exact and normalised name, and by trigrams for fuzzy candidates."""

    def __init__(
        self,
        partners: Iterable[tuple[int, str | None]],
        unlinkable: Iterable[tuple[int, str | None]] = (),
    ) -> None:
        blocked = list(unlinkable)
        self.unlinkable = {partner_id for partner_id, _ in blocked}
        self.exact: dict[str, set[int]] = defaultdict(set)
        self.normalised: dict[str, set[int]] = defaultdict(set)
        self.cores: list[tuple[str, int]] = []
        self.by_length: dict[int, list[int]] = defaultdict(list)
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for partner_id, account_name in [*partners, *blocked]:
            if not account_name or not account_name.strip():
                continue
            self.exact[exact_key(account_name)].add(partner_id)
            core = normalise(account_name)
            if not core:
                continue
            if partner_id not in self.normalised[core]:
                for gram, count in _trigrams(core).items():
                    self.postings[gram].append((len(self.cores), count))
                self.by_length[len(core)].append(len(self.cores))
                self.cores.append((core, partner_id))
            self.normalised[core].add(partner_id)

    def fuzzy(self, core: str, threshold: float) -> tuple[set[int], float]:
        """Partners with the best ratio ≥ threshold (several means a tie)."""
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(core)  # difflib caches its analysis of seq2: reuse it per candidate
        best: set[int] = set()
        best_score = threshold
        for index in self._candidates(core, threshold):
            candidate, partner_id = self.cores[index]
            matcher.set_seq1(candidate)
            # cheap upper bounds first; ratios are exact fractions, so ties compare equal
            if matcher.real_quick_ratio() < best_score or matcher.quick_ratio() < best_score:
                continue
            score = matcher.ratio()
            if score < best_score:
                continue
            if score > best_score or not best:
                best, best_score = {partner_id}, score
            else:
                best.add(partner_id)
        return best, best_score

    def _candidates(self, core: str, threshold: float) -> list[int]:
        """Partners that can reach `threshold`, found through shared trigrams without loss.

        difflib's ratio 2M/T ≥ t bounds the edit distance k by ⌊(1 − t)·T⌋ (M never exceeds
        the longest common subsequence), and strings k edits apart share at least
        max(len) − 2 − 3k trigrams (the q-gram lemma). Pairs below that bound cannot match.
        """
        size = len(core)
        bounds = {}  # length → trigrams a candidate of that length must share with `core`
        for length in self.by_length:
            total = size + length
            if 2 * min(size, length) >= threshold * total:
                edits = int((1 - threshold) * total)
                bounds[length] = max(size, length) - 2 - 3 * edits
        found = {
            i for length, bound in bounds.items() if bound <= 0 for i in self.by_length[length]
        }
        shared: dict[int, int] = defaultdict(int)
        for gram, count in _trigrams(core).items():
            for index, other in self.postings.get(gram, ()):
                shared[index] += min(count, other)
        for index, common in shared.items():
            bound = bounds.get(len(self.cores[index][0]))
            if bound is not None and common >= bound:
                found.add(index)
        return sorted(found)


def _trigrams(text: str) -> Counter[str]:
    return Counter(text[i : i + 3] for i in range(len(text) - 2))


def match_groups_detailed(
    groups: Iterable[tuple[str, str | None]],
    partners: Iterable[tuple[int, str | None]],
    *,
    unlinkable: Iterable[tuple[int, str | None]] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> MatchResult:
    """Match each group to at most one partner; see the module docstring for the tiers."""
    index = _PartnerIndex(partners, unlinkable)
    result = MatchResult()
    for group_id, name in groups:
        if not name or not name.strip() or is_system_group(name):
            continue
        found = _match_one(index, name, threshold)
        if found is None:
            continue
        candidates, tier, score = found
        linkable = candidates - index.unlinkable
        if len(linkable) == 1:
            result.matches[group_id] = Match(next(iter(linkable)), tier, score)
        elif linkable:
            result.ambiguous.add(group_id)
        else:
            result.unlinkable[group_id] = frozenset(candidates)
    return result


def _match_one(
    index: _PartnerIndex, name: str, threshold: float
) -> tuple[set[int], str, float] | None:
    candidates = index.exact.get(exact_key(name))
    if candidates:
        return candidates, "exact", 1.0
    stripped = without_ptr(name)
    if stripped != name.strip():
        candidates = index.exact.get(exact_key(stripped))
        if candidates:
            return candidates, "ptr", 1.0
    core = normalise(name)
    if not core:
        return None
    candidates = index.normalised.get(core)
    if candidates:
        return candidates, "normalised", 1.0
    best, score = index.fuzzy(core, threshold)
    if best:
        return best, "fuzzy", score
    return None


def match_groups(
    groups: Iterable[tuple[str, str | None]],
    partners: Iterable[tuple[int, str | None]],
    *,
    unlinkable: Iterable[tuple[int, str | None]] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, int]:
    """`{group_id: partner_id}` for every group that matches exactly one linkable partner."""
    detailed = match_groups_detailed(groups, partners, unlinkable=unlinkable, threshold=threshold)
    return {group_id: match.partner_id for group_id, match in detailed.matches.items()}
