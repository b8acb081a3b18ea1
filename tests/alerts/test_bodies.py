"""Decoding bodies: JSON nested at most MAX_DEPTH deep, whatever the shape."""

from __future__ import annotations

import msgspec
import pytest

from tocsin.alerts.bodies import MAX_DEPTH, TooDeep, decode
from tocsin.alerts.pagerduty import parse_body


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_nesting_up_to_the_limit_decodes_and_beyond_it_is_refused() -> None:
    for nested in (_arrays, _objects):
        assert decode(nested(MAX_DEPTH)) is not None
        assert decode(memoryview(nested(MAX_DEPTH))) == decode(nested(MAX_DEPTH))
        for depth in (MAX_DEPTH + 1, 5_000, 100_000):  # the last ones overflow a decoder
            with pytest.raises(TooDeep):
                decode(nested(depth))
    # Many brackets side by side are not deep.
    wide = b"[" + b",".join([b"[[1]]"] * 10_000) + b"]"
    assert len(decode(wide)) == 10_000
    with pytest.raises(msgspec.DecodeError) as not_json:
        decode(b"{nope")
    assert not isinstance(not_json.value, TooDeep)


def test_a_pagerduty_event_nested_too_deeply_is_not_json_to_its_sender() -> None:
    event = (
        b'{"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", '
        b'"source": "x", "severity": "error", "custom_details": %s}}'
    )
    assert parse_body(event % _arrays(MAX_DEPTH - 3)).details == {
        "details": decode(_arrays(MAX_DEPTH - 3))
    }
    for depth in (MAX_DEPTH, 100_000):
        with pytest.raises(msgspec.DecodeError):
            parse_body(event % _arrays(depth))
