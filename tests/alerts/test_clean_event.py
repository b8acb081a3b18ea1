"""What an accepted event stores is storable on every backend: no NUL character anywhere in
it (PostgreSQL's text refuses them), however deep in the sender's details."""

from __future__ import annotations

import json

from tocsin.alerts.pagerduty import parse_event
from tocsin.alerts.pipeline import event_row
from tocsin.db import utcnow


def _row(payload_details: object, links: object = None) -> dict[str, object]:
    body = {
        "routing_key": "k",
        "event_action": "trigger",
        "dedup_key": "d",
        "payload": {
            "summary": "s",
            "source": "h",
            "severity": "error",
            "custom_details": payload_details,
        },
        "links": links or [],
    }
    return event_row(1, parse_event(json.loads(json.dumps(body))), raw=None, received_at=utcnow())


def test_nul_characters_deep_in_details_and_links_are_replaced() -> None:
    row = _row(
        {"ok": "plain", "a\x00key": ["x\x00y", {"deep": "z\x00"}], "n": 3},
        [{"href": "https://example.org/\x00", "text": "t\x00"}],
    )
    data = str(row["data"])
    assert "\\u0000" not in data
    stored = json.loads(data)
    assert stored["details"] == {
        "ok": "plain",
        "a\ufffdkey": ["x\ufffdy", {"deep": "z\ufffd"}],
        "n": 3,
    }
    assert stored["links"] == [{"href": "https://example.org/\ufffd", "text": "t\ufffd"}]


def test_details_without_nul_are_stored_as_sent() -> None:
    details = {"job": "api", "nested": {"list": [1, 2.5, True, None, "a\\u0000 typed out"]}}
    stored = json.loads(str(_row(details)["data"]))
    assert stored["details"] == details
