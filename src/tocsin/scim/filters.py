"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): a small recursive-descent
parser and an evaluator over rendered resources. Pure functions; no database.

    filter    = or
    or        = and *("or" and)
    and       = unary *("and" unary)
    unary     = "not" "(" filter ")" / "(" filter ")" / attrPath "[" filter "]" / attrExp
    attrExp   = attrPath "pr" / attrPath compareOp compValue
    compValue = "true" / "false" / "null" / number / JSON string

Attribute names are case-insensitive; string comparisons are too, except on the attributes
named case-exact by the schema (`id`, `externalId`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
CASE_EXACT = frozenset({"id", "externalid"})
_TOKEN = re.compile(
    r'\s+|(?P<punct>[()\[\]])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()\[\]"]+)'
)


class FilterError(ValueError):
    """The filter or path cannot be parsed; the message says where."""


@dataclass(frozen=True)
class Path:
    """An attribute path: `schema` (a URN, or "" for the core schema), `attr`, `sub`."""

    schema: str
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        base = f"{self.schema}:{self.attr}" if self.schema else self.attr
        return f"{base}.{self.sub}" if self.sub else base


@dataclass(frozen=True)
class Present:
    path: Path


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str
    value: str | int | float | bool | None


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    """`attr[filter]`: the elements of a multi-valued attribute matching `inner`."""

    path: Path
    inner: Filter


Filter = Present | Compare | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH path: an attribute, optionally narrowed by a filter on its elements, then
    optionally a sub-attribute of those elements (`emails[type eq "work"].value`)."""

    path: Path
    where: Filter | None = None
    sub: str | None = None


@dataclass(frozen=True)
class _Tok:
    kind: str  # "punct", "string", "word"
    text: str
    at: int


def _tokens(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"unexpected character at position {pos + 1}")
        kind = match.lastgroup
        if kind is not None:
            tokens.append(_Tok(kind, match.group(kind), pos))
        pos = match.end()
    return tokens


_ATTR = re.compile(r"^[A-Za-z$][\w$-]*$")


def parse_attr_path(text: str, extensions: tuple[str, ...] = ()) -> Path:
    """`userName`, `name.givenName`, `urn:...:User:userName`, `urn:...:enterprise:2.0:User:
    manager.value`: the schema URN (empty for core), the attribute, the sub-attribute."""
    schema = ""
    rest = text
    if text.lower().startswith("urn:"):
        for urn in sorted(extensions, key=len, reverse=True):
            if text.lower().startswith(urn.lower() + ":"):
                schema, rest = urn, text[len(urn) + 1 :]
                break
        else:
            schema_part, sep, rest = text.rpartition(":")
            if not sep or not schema_part:
                raise FilterError(f"bad attribute path {text!r}")
            schema = schema_part
    parts = rest.split(".")
    if len(parts) > 2 or not all(_ATTR.match(p) for p in parts):
        raise FilterError(f"bad attribute path {text!r}")
    return Path(schema, parts[0], parts[1] if len(parts) == 2 else None)


class _Parser:
    def __init__(self, text: str, extensions: tuple[str, ...]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.extensions = extensions

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too soon")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.pos += 1
            return token.text.lower()
        return None

    def expect(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise FilterError(f"expected {punct!r} at position {token.at + 1}")

    def filter(self) -> Filter:
        node = self.conjunction()
        while self.keyword("or"):
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Filter:
        node = self.unary()
        while self.keyword("and"):
            node = And(node, self.unary())
        return node

    def unary(self) -> Filter:
        if self.keyword("not"):
            self.expect("(")
            inner = self.filter()
            self.expect(")")
            return Not(inner)
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.filter()
            self.expect(")")
            return inner
        if token.kind != "word":
            raise FilterError(f"expected an attribute at position {token.at + 1}")
        path = parse_attr_path(token.text, self.extensions)
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "[":
            self.pos += 1
            inner = self.filter()
            self.expect("]")
            return ValuePath(path, inner)
        op = self.take()
        word = op.text.lower()
        if op.kind != "word" or (word != "pr" and word not in OPERATORS):
            raise FilterError(f"expected an operator after {token.text!r}")
        if word == "pr":
            return Present(path)
        return Compare(path, word, self.value())

    def value(self) -> str | int | float | bool | None:
        token = self.take()
        if token.kind == "string":
            try:
                text: str = json.loads(token.text)
            except json.JSONDecodeError as exc:
                raise FilterError(f"bad string at position {token.at + 1}") from exc
            return text
        word = token.text.lower()
        if token.kind == "word":
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
            if re.fullmatch(r"-?\d+", token.text):
                return int(token.text)
            if re.fullmatch(r"-?\d+\.\d+([eE][-+]?\d+)?", token.text):
                return float(token.text)
        raise FilterError(f"expected a value at position {token.at + 1}")

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise FilterError(f"unexpected {token.text!r} at position {token.at + 1}")


def parse_filter(text: str, extensions: tuple[str, ...] = ()) -> Filter:
    """The filter `text` as a tree; FilterError when it is not one."""
    parser = _Parser(text, extensions)
    node = parser.filter()
    parser.done()
    return node


def parse_patch_path(text: str, extensions: tuple[str, ...] = ()) -> PatchPath:
    """A PATCH operation's `path`: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`."""
    if "[" not in text:
        return PatchPath(parse_attr_path(text.strip(), extensions))
    head, _, tail = text.partition("[")
    inner, close, after = tail.rpartition("]")
    if not close:
        raise FilterError(f"bad path {text!r}: no closing ']'")
    path = parse_attr_path(head.strip(), extensions)
    if path.sub is not None:
        raise FilterError(f"bad path {text!r}")
    sub = None
    if after:
        if not after.startswith(".") or not _ATTR.match(after[1:]):
            raise FilterError(f"bad path {text!r}")
        sub = after[1:]
    return PatchPath(path, parse_filter(inner, extensions), sub)


def paths(node: Filter) -> Iterator[tuple[Path, Path | None]]:
    """Every attribute a filter names: (the path, the enclosing value path or None)."""
    if isinstance(node, Present | Compare):
        yield node.path, None
    elif isinstance(node, And | Or):
        yield from paths(node.left)
        yield from paths(node.right)
    elif isinstance(node, Not):
        yield from paths(node.inner)
    else:
        yield node.path, None
        for inner, _ in paths(node.inner):
            yield inner, node.path


def lookup(resource: Mapping[str, Any], name: str) -> Any:
    """A key of `resource` named case-insensitively; None when absent."""
    if name in resource:
        return resource[name]
    lowered = name.lower()
    for key, value in resource.items():
        if key.lower() == lowered:
            return value
    return None


def _values(resource: Mapping[str, Any], path: Path) -> list[Any]:
    holder: Any = resource
    if path.schema and path.schema.lower() not in (
        "urn:ietf:params:scim:schemas:core:2.0:user",
        "urn:ietf:params:scim:schemas:core:2.0:group",
    ):
        holder = lookup(resource, path.schema) or {}
    value = lookup(holder, path.attr) if isinstance(holder, Mapping) else None
    items = value if isinstance(value, list) else [] if value is None else [value]
    if path.sub is not None:
        items = [lookup(i, path.sub) for i in items if isinstance(i, Mapping)]
    # A multi-valued complex attribute compared as a whole compares its "value"s.
    return [lookup(i, "value") if isinstance(i, Mapping) else i for i in items if i is not None]


def _compare(actual: Any, op: str, expected: Any, case_exact: bool) -> bool:
    if expected is None:
        return (actual is None) == (op == "eq")
    if isinstance(expected, bool) or isinstance(actual, bool):
        if op not in ("eq", "ne"):
            raise FilterError(f"{op} does not apply to true or false")
        return (actual == expected) == (op == "eq")
    if isinstance(expected, str) and isinstance(actual, str):
        if not case_exact:
            actual, expected = actual.lower(), expected.lower()
    elif not (isinstance(expected, int | float) and isinstance(actual, int | float)):
        return op == "ne"
    tests: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "co": lambda a, b: isinstance(a, str) and b in a,
        "sw": lambda a, b: isinstance(a, str) and a.startswith(b),
        "ew": lambda a, b: isinstance(a, str) and a.endswith(b),
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
    }
    return tests[op](actual, expected)


def matches(node: Filter, resource: Mapping[str, Any]) -> bool:
    """True if the rendered `resource` (or element of a multi-valued attribute) matches."""
    if isinstance(node, And):
        return matches(node.left, resource) and matches(node.right, resource)
    if isinstance(node, Or):
        return matches(node.left, resource) or matches(node.right, resource)
    if isinstance(node, Not):
        return not matches(node.inner, resource)
    if isinstance(node, ValuePath):
        value = lookup(resource, node.path.attr)
        items = value if isinstance(value, list) else [] if value is None else [value]
        return any(isinstance(i, Mapping) and matches(node.inner, i) for i in items)
    values = _values(resource, node.path)
    if isinstance(node, Present):
        return any(v not in ("", [], {}) for v in values)
    case_exact = (node.path.sub or node.path.attr).lower() in CASE_EXACT and not node.path.sub
    if node.op == "ne":
        return not any(_compare(v, "eq", node.value, case_exact) for v in values)
    if not values:
        return node.value is None and node.op == "eq"
    return any(_compare(v, node.op, node.value, case_exact) for v in values)
