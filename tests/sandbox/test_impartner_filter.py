from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from partnersync.sandbox.impartner_filter import (
    And,
    Comparison,
    FieldRef,
    FilterError,
    IsNull,
    Like,
    Literal,
    Not,
    Or,
    compile_filter,
    parse_filter,
)

DENVER = ZoneInfo("America/Denver")


@dataclass
class Row:
    Id: int
    Name: str | None
    IsActive: bool
    Updated: datetime
    Score: float | None = None


KINDS = {
    "id": "int",
    "name": "string",
    "isactive": "bool",
    "updated": "datetime",
    "score": "double",
}


def resolve(path: str) -> FieldRef:
    if path.lower() not in KINDS:
        raise FilterError(f"unknown field {path}")
    attribute = {
        "id": "Id",
        "name": "Name",
        "isactive": "IsActive",
        "updated": "Updated",
        "score": "Score",
    }[path.lower()]
    return FieldRef(lambda row: getattr(row, attribute), KINDS[path.lower()])


ROWS = [
    Row(1, "Acme Inc.", True, datetime(2026, 1, 1, 12, 0, tzinfo=UTC), 2.0),
    Row(2, "O'Brien & Sons", False, datetime(2026, 1, 2, 6, 30, tzinfo=UTC)),
    Row(3, None, True, datetime(2025, 12, 31, 23, 0, tzinfo=UTC), 5.5),
    Row(4, "acme labs", True, datetime(2026, 1, 1, 6, 59, 59, tzinfo=UTC), 1),
]


def matching(text: str, zoneless: Any = UTC) -> list[int]:
    predicate = compile_filter(parse_filter(text), resolve, zoneless)
    return [row.Id for row in ROWS if predicate(row)]


def test_parses_precedence_and_parentheses() -> None:
    tree = parse_filter("A = 1 or B = 2 and C = 3")
    assert tree == Or(
        Comparison("A", "=", Literal("1", "number")),
        And(
            Comparison("B", "=", Literal("2", "number")),
            Comparison("C", "=", Literal("3", "number")),
        ),
    )
    grouped = parse_filter("(A = 1 OR B = 2) AND not C like '%x%'")
    assert isinstance(grouped, And)
    assert grouped.right == Not(Like("C", "%x%", negated=False))


def test_parses_null_forms_quotes_and_dotted_paths() -> None:
    assert parse_filter("Name = null") == IsNull("Name", negated=False)
    assert parse_filter("Name != NULL") == IsNull("Name", negated=True)
    assert parse_filter("Name is not null") == IsNull("Name", negated=True)
    quoted = Comparison("Name", "=", Literal("O'Brien", "string"))
    assert parse_filter("Name = 'O''Brien'") == quoted
    assert parse_filter("Account.Name not like 'a%'") == Like("Account.Name", "a%", negated=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Name =",
        "Name = 'unterminated",
        "(Name = 'x'",
        "Name = 'x')",
        "Name ~ 1",
        "Id in (1, 2)",
        "Name < null",
        "= 3",
        "Name = 'a' and",
    ],
)
def test_rejects_malformed_expressions(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_comparisons_and_text_is_case_insensitive() -> None:
    assert matching("Id >= 2 and Id < 4") == [2, 3]
    assert matching("Id != 1") == [2, 3, 4]
    assert matching("Name = 'ACME INC.'") == [1]
    assert matching("Name like 'acme%'") == [1, 4]
    assert matching("Name not like '%acme%'") == [2]  # null matches neither like nor not like
    assert matching("Name like 'acme_labs'") == [4]
    assert matching("Name like '%''%'") == [2]


def test_booleans_numbers_and_nulls() -> None:
    assert matching("IsActive = true") == [1, 3, 4]
    assert matching("IsActive = false or Id = 4") == [2, 4]
    assert matching("Score > 1.5") == [1, 3]
    assert matching("Score = null") == [2]
    assert matching("Score != 2") == [3, 4]  # a null matches no comparison
    assert matching("not (IsActive = true)") == [2]


def test_dates_in_several_spellings() -> None:
    assert matching("Updated >= '2026-01-01'") == [1, 2, 4]
    assert matching("Updated >= '2026/01/02'") == [2]
    assert matching("Updated > '2026-01-01T12:00:00Z'") == [2]
    assert matching("Updated >= '2026-01-01T05:00:00-07:00'") == [1, 2]


def test_zoneless_literals_follow_the_configured_zone() -> None:
    text = "Updated >= '2026-01-01T00:00:00'"
    assert matching(text, UTC) == [1, 2, 4]
    # Midnight in Denver is 07:00 UTC, so row 4 (06:59:59 UTC) drops out.
    assert matching(text, DENVER) == [1, 2]


def test_unknown_fields_and_bad_values_fail() -> None:
    with pytest.raises(FilterError):
        matching("Nope = 1")
    with pytest.raises(FilterError):
        matching("Id = 'abc'")
    with pytest.raises(FilterError):
        matching("Updated > 'yesterday'")
    with pytest.raises(FilterError):
        matching("IsActive = 'maybe'")
