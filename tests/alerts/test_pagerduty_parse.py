"""`parse_body` (the typed, one-pass decoding /v2/enqueue uses) gives exactly the answer of
`parse_event` on the decoded JSON, for any body: the same event, or the same errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.alerts import pagerduty
from tocsin.alerts.pagerduty import EventInvalid, ParsedEvent, parse_body, parse_event

odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
words = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "é" * 300, "x" * 1025, "x" * 256, "2026-11-24T03:00:00Z"]),
)
maybe = st.one_of(words, odd)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "summary": maybe,
        "source": maybe,
        "severity": st.one_of(st.sampled_from(["critical", "error", "warning", "info"]), maybe),
        "timestamp": st.one_of(
            st.sampled_from(["2026-11-24T03:00:00Z", "2026-11-24 03:00", "yesterday"]), maybe
        ),
        "custom_details": st.one_of(odd, st.dictionaries(st.text(max_size=5), maybe, max_size=3)),
        "component": maybe,
        "group": maybe,
        "class": maybe,
    },
)
links = st.lists(
    st.one_of(
        st.fixed_dictionaries({"href": maybe}, optional={"text": maybe}),
        odd,
    ),
    max_size=25,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "routing_key": st.one_of(
            st.just("0123456789abcdef0123456789abcdef"), st.just("k" * 65), maybe
        ),
        "event_action": st.one_of(
            st.sampled_from(["trigger", "acknowledge", "resolve", "Trigger"]), maybe
        ),
        "dedup_key": maybe,
        "payload": st.one_of(payloads, odd, words),
        "links": st.one_of(links, odd, words),
        "images": odd,
        "client": maybe,
    },
)
# Most generated bodies are broken somewhere; these are the kind senders post.
usual = st.fixed_dictionaries(
    {
        "routing_key": st.just("0123456789abcdef0123456789abcdef"),
        "event_action": st.sampled_from(["trigger", "trigger", "acknowledge", "resolve"]),
        "dedup_key": st.text(min_size=1, max_size=40),
        "payload": st.fixed_dictionaries(
            {
                "summary": st.text(min_size=1, max_size=60),
                "source": st.text(min_size=1, max_size=20),
                "severity": st.sampled_from(["critical", "error", "warning", "info"]),
            },
            optional={
                "custom_details": st.dictionaries(st.text(max_size=5), maybe, max_size=3),
                "component": st.text(max_size=10),
                "timestamp": st.just("2026-11-24T03:00:00.123Z"),
            },
        ),
    },
    optional={
        "links": st.lists(
            st.fixed_dictionaries({"href": st.text(max_size=20)}, optional={"text": words}),
            max_size=3,
        )
    },
)


PATHS = [
    ("routing_key",),
    ("event_action",),
    ("dedup_key",),
    ("payload",),
    ("links",),
    ("payload", "summary"),
    ("payload", "source"),
    ("payload", "severity"),
    ("payload", "timestamp"),
    ("payload", "custom_details"),
    ("payload", "component"),
    ("payload", "class"),
]
GONE = object()


@st.composite
def nearly_usual(draw: st.DrawFn) -> Any:
    """A usual body with one or two fields changed (to anything) or removed."""
    body = draw(usual)
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2, unique=True)):
        value = draw(st.one_of(words, words, odd, payloads, links, st.just(GONE)))
        target = body
        for name in path[:-1]:
            target = target.get(name)
        if not isinstance(target, dict):
            continue
        if value is GONE:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return body


def _answer(parse: Any, raw: bytes) -> ParsedEvent | tuple[str, list[str]] | str:
    try:
        return parse(raw)  # type: ignore[no-any-return]
    except EventInvalid as exc:
        return (exc.message, exc.errors)
    except msgspec.DecodeError:
        return "not JSON"


def _reference(raw: bytes) -> ParsedEvent:
    return parse_event(msgspec.json.decode(raw))


@settings(max_examples=500, deadline=None)
@given(st.one_of(bodies, usual, odd))
def test_any_body_gets_the_answer_of_parse_event(body: Any) -> None:
    raw = json.dumps(body).encode()
    assert _answer(parse_body, raw) == _answer(_reference, raw)


@settings(max_examples=1500, deadline=None)
@given(nearly_usual())
def test_a_body_one_or_two_fields_off_gets_the_answer_of_parse_event(body: Any) -> None:
    raw = json.dumps(body).encode()
    assert _answer(parse_body, raw) == _answer(_reference, raw)


def _edge(action: str = "trigger", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": "0123456789abcdef0123456789abcdef",
        "event_action": action,
        "dedup_key": "k",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
    }
    for name, value in changes.items():
        if name.startswith("p_"):
            body["payload"][name[2:]] = value
        else:
            body[name] = value
    return body


LINK = {"href": "https://example.com/" + "h" * 2100, "text": "t" * 300}
EDGES = [
    _edge(routing_key="k" * 64),
    _edge(routing_key="k" * 65),
    _edge(dedup_key="d" * 255),
    _edge(dedup_key="d" * 256),
    _edge(dedup_key=""),
    _edge("resolve", dedup_key=""),
    _edge(p_summary="s" * 1024),
    _edge(p_summary="s" * 1025),
    _edge(p_source="x" * 255),
    _edge(p_source="x" * 256),
    _edge(p_severity="Critical"),
    _edge(p_timestamp="2026-11-24T03:00:00Z"),
    _edge(p_timestamp="not a time"),
    _edge(p_custom_details="text"),
    _edge(p_custom_details={"_component": "mine"}, p_component="theirs"),
    _edge(p_component=7, p_group="g", p_class="c"),
    _edge("acknowledge", p_summary="a" * 1100),
    _edge("resolve", payload={"summary": "only a summary"}),
    _edge(links=[LINK] * 21),
    _edge(links=[{"href": "h"}, {"href": "h", "text": ""}, {"href": "h", "text": None}]),
    _edge(links=[{"href": 1}]),
    _edge(links="none"),
]


@pytest.mark.parametrize("body", EDGES)
def test_the_limits_and_oddities_get_the_answer_of_parse_event(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert _answer(parse_body, raw) == _answer(_reference, raw)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1, 2]", b"null", b'"trigger"', b"\xff\xfe", b'{"routing_key": "a"} trailing'],
)
def test_what_is_not_an_event_object_gets_the_answer_of_parse_event(raw: bytes) -> None:
    assert _answer(parse_body, raw) == _answer(_reference, raw)


def test_the_usual_body_never_needs_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(data: Any) -> ParsedEvent:
        raise AssertionError("parse_event was called")

    monkeypatch.setattr(pagerduty, "parse_event", slow)
    raw = json.dumps(
        {
            "routing_key": "0123456789abcdef0123456789abcdef",
            "event_action": "trigger",
            "dedup_key": "disk-full-db-1",
            "payload": {
                "summary": "Disk full on db-1",
                "source": "db-1",
                "severity": "critical",
                "timestamp": "2026-11-24T03:00:00Z",
                "component": "postgres",
                "custom_details": {"free": "0 B"},
            },
            "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"}],
            "client": "Prometheus",
        }
    ).encode()
    event = parse_body(raw)
    assert event.dedup_key == "disk-full-db-1" and event.severity == "critical"
    assert event.details == {"free": "0 B", "_component": "postgres"}
    assert event.links == [{"href": "https://grafana.example/d/1", "text": "Dashboard"}]
    assert event.timestamp is not None and event.timestamp.utcoffset() is not None
