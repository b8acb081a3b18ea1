"""The SCIM filter parser: any filter tree written out parses back to the same tree, and
evaluation follows RFC 7644's rules (case-insensitive names and strings, multi-valued
attributes, precedence of not, and, or)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.scim.filters import (
    OPERATORS,
    And,
    Compare,
    Filter,
    FilterError,
    Not,
    Or,
    PatchPath,
    Path,
    Present,
    ValuePath,
    matches,
    parse_filter,
    parse_patch_path,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

names = st.sampled_from(["userName", "displayName", "active", "title", "externalId", "value"])
subs = st.sampled_from([None, "givenName", "value", "type"])
paths = st.builds(Path, st.sampled_from(["", ENTERPRISE]), names, subs)
values = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**6), max_value=10**6),
)
leaves = st.one_of(
    st.builds(Present, paths),
    st.builds(Compare, paths, st.sampled_from(OPERATORS), values),
)


def _trees(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    return st.one_of(
        st.builds(And, children, children),
        st.builds(Or, children, children),
        st.builds(Not, children),
        st.builds(ValuePath, st.builds(Path, st.just(""), names, st.none()), children),
    )


filters = st.recursive(leaves, _trees, max_leaves=8)


def write(node: Filter) -> str:
    """A filter tree as text, every compound bracketed."""
    if isinstance(node, Present):
        return f"{node.path} pr"
    if isinstance(node, Compare):
        value = "null" if node.value is None else json.dumps(node.value)
        return f"{node.path} {node.op} {value}"
    if isinstance(node, And):
        return f"({write(node.left)}) and ({write(node.right)})"
    if isinstance(node, Or):
        return f"({write(node.left)}) or ({write(node.right)})"
    if isinstance(node, Not):
        return f"not ({write(node.inner)})"
    return f"{node.path}[{write(node.inner)}]"


@given(filters)
def test_a_written_filter_parses_back_to_itself(node: Filter) -> None:
    assert parse_filter(write(node), (ENTERPRISE,)) == node


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_a_filter_error(text: str) -> None:
    with contextlib.suppress(FilterError):
        parse_filter(text)


def test_precedence_not_then_and_then_or() -> None:
    node = parse_filter('a eq "1" or b eq "2" and not (c pr)')
    assert isinstance(node, Or) and isinstance(node.right, And)
    assert isinstance(node.right.right, Not)


USER = {
    "userName": "Dana@Example.com",
    "externalId": "Okta-1",
    "active": True,
    "name": {"givenName": "Dana"},
    "emails": [
        {"value": "dana@example.com", "type": "work", "primary": True},
        {"value": "dana@home.example", "type": "home"},
    ],
    ENTERPRISE: {"department": "X-Files"},
    "meta": {"lastModified": "2026-12-01T10:00:00Z"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "dana@example.com"', True),  # strings compare case-insensitively
        ('USERNAME Eq "DANA@EXAMPLE.COM"', True),  # so do names and operators
        ('externalId eq "okta-1"', False),  # except case-exact attributes
        ('externalId eq "Okta-1"', True),
        ('userName co "@example"', True),
        ('userName sw "dana"', True),
        ('userName ew ".org"', False),
        ("active eq true", True),
        ("active ne true", False),
        ("title pr", False),
        ("name.givenName pr", True),
        ('emails co "home.example"', True),  # a multi-valued attribute compares its values
        ('emails.type eq "home"', True),
        ('emails[type eq "work" and value ew "example.com"]', True),
        ('emails[type eq "home" and primary eq true]', False),
        (f'{ENTERPRISE}:department eq "x-files"', True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "DANA"', True),
        ('meta.lastModified gt "2026-11-30T00:00:00Z"', True),
        ("title eq null", True),
        ('not (userName sw "fox") and (active eq false or name.givenName eq "dana")', True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, (ENTERPRISE,)), USER) is expected


@pytest.mark.parametrize(
    "text",
    [
        "userName eq",
        'userName like "x"',
        "(userName pr",
        "userName pr)",
        'emails[type eq "x"',
        'userName eq "unterminated',
        "userName eq dana",
        "userName pr and",
        "a.b.c pr",
        '"x" eq "y"',
    ],
)
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_patch_paths() -> None:
    assert parse_patch_path("name.givenName") == PatchPath(Path("", "name", "givenName"))
    work = parse_patch_path('emails[type eq "work"].value')
    assert work.path == Path("", "emails") and work.sub == "value"
    assert work.where == Compare(Path("", "type"), "eq", "work")
    assert parse_patch_path(f"{ENTERPRISE}:manager", (ENTERPRISE,)).path == Path(
        ENTERPRISE, "manager"
    )
    with pytest.raises(FilterError):
        parse_patch_path('emails[type eq "work"]value')
