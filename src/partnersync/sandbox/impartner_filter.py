"""Impartner's SQL-like `filter` expressions: parsed to a small tree, compiled to a predicate.

Grammar (keywords in any case):
    expr       := term (OR term)*
    term       := factor (AND factor)*
    factor     := NOT factor | '(' expr ')' | condition
    condition  := field op literal | field [NOT] LIKE string | field IS [NOT] NULL
    op         := = | != | <> | < | <= | > | >=
    literal    := 'quoted' ('' escapes a quote) | number | true | false | null
Field paths may be dotted (`Account.Name`). Comparisons follow SQL Server's habits: text compares
case-insensitively and a null value matches no comparison.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

Predicate = Callable[[Any], bool]

TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<paren>[()])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<word>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "like", "is", "null", "true", "false"}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FilterError(ValueError):
    """The expression cannot be parsed or names something unknown."""


@dataclass(frozen=True)
class Literal:
    text: str
    kind: str  # "string", "number", "bool", "null"


@dataclass(frozen=True)
class Comparison:
    path: str
    op: str
    value: Literal


@dataclass(frozen=True)
class Like:
    path: str
    pattern: str
    negated: bool


@dataclass(frozen=True)
class IsNull:
    path: str
    negated: bool


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Comparison | Like | IsNull | And | Or | Not


@dataclass(frozen=True)
class FieldRef:
    """What the compiler needs to know about a field path."""

    getter: Callable[[Any], Any]
    kind: str  # "int", "double", "string", "bool", "datetime", "lookup"


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"Unexpected input at position {position}: {text[position:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = token[1] if token else "end of filter"
            raise FilterError(f"Expected {value or kind} but found {found!r}")
        self.index += 1
        return token[1]

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.index += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise FilterError(f"Unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.accept("keyword", "or"):
            node = Or(node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.accept("keyword", "and"):
            node = And(node, self.factor())
        return node

    def factor(self) -> Node:
        if self.accept("keyword", "not"):
            return Not(self.factor())
        if self.accept("paren", "("):
            node = self.expr()
            self.take("paren", ")")
            return node
        return self.condition()

    def condition(self) -> Node:
        path = self.take("word")
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not")
            self.take("keyword", "null")
            return IsNull(path, negated)
        negated = self.accept("keyword", "not")
        if negated or self.accept("keyword", "like"):
            if negated:
                self.take("keyword", "like")
            return Like(path, self.literal().text, negated)
        op = self.take("op")
        value = self.literal()
        if value.kind == "null":
            if op not in ("=", "!=", "<>"):
                raise FilterError(f"Cannot compare {path} {op} null")
            return IsNull(path, negated=op != "=")
        return Comparison(path, op, value)

    def literal(self) -> Literal:
        token = self.peek()
        if token is None:
            raise FilterError("Expected a value but found end of filter")
        self.index += 1
        kind, value = token
        if kind == "string":
            return Literal(value[1:-1].replace("''", "'"), "string")
        if kind == "number":
            return Literal(value, "number")
        if kind == "keyword" and value in ("true", "false"):
            return Literal(value, "bool")
        if kind == "keyword" and value == "null":
            return Literal(value, "null")
        raise FilterError(f"Expected a value but found {value!r}")


def parse_filter(text: str) -> Node:
    """Parses a filter expression or raises FilterError."""
    return _Parser(text).parse()


def parse_datetime(text: str, zoneless: tzinfo) -> datetime:
    """Accepts `YYYY-MM-DD`, `YYYY/MM/DD` and ISO date-times; a literal without a zone is read in
    `zoneless` (UTC or the tenant's zone — which one the real service uses is unknown)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("/", "-"))
    except ValueError as exc:
        raise FilterError(f"Invalid date '{text}'") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneless)
    return parsed.astimezone(UTC)


def coerce(literal: Literal, kind: str, zoneless: tzinfo) -> Any:
    if literal.kind == "null":
        return None
    text = literal.text
    try:
        if kind in ("int", "double", "lookup"):
            if literal.kind == "bool":
                raise ValueError(text)
            return float(text)
        if kind == "bool":
            if text.lower() in ("true", "1"):
                return True
            if text.lower() in ("false", "0"):
                return False
            raise ValueError(text)
    except ValueError as exc:
        raise FilterError(f"Invalid value '{text}' for a {kind} field") from exc
    if kind == "datetime":
        return parse_datetime(text, zoneless)
    return text.casefold()


def like_pattern(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def compile_filter(node: Node, resolve: Callable[[str], FieldRef], zoneless: tzinfo) -> Predicate:
    """Turns the tree into a predicate over records; unknown fields raise FilterError."""
    if isinstance(node, And):
        left, right = (compile_filter(n, resolve, zoneless) for n in (node.left, node.right))
        return lambda r: left(r) and right(r)
    if isinstance(node, Or):
        left, right = (compile_filter(n, resolve, zoneless) for n in (node.left, node.right))
        return lambda r: left(r) or right(r)
    if isinstance(node, Not):
        inner = compile_filter(node.inner, resolve, zoneless)
        return lambda r: not inner(r)
    field = resolve(node.path)
    getter = field.getter
    if isinstance(node, IsNull):
        negated = node.negated
        return lambda r: (getter(r) is None) != negated
    if isinstance(node, Like):
        regex, negated = like_pattern(node.pattern), node.negated

        def like(record: Any) -> bool:
            value = getter(record)
            return value is not None and (regex.fullmatch(str(value)) is None) == negated

        return like
    compare = OPERATORS[node.op]
    expected = coerce(node.value, field.kind, zoneless)
    text = field.kind == "string"

    def comparison(record: Any) -> bool:
        value = getter(record)
        if value is None:
            return False
        return compare(value.casefold() if text else value, expected)

    return comparison
