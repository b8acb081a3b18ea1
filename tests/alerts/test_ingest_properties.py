"""Property-based: whatever body arrives at an ingestion endpoint, the answer is never a 5xx,
and alerts the body does not name are left exactly as they were."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login, settle
from tocsin.alerts import service as alerts
from tocsin.alerts.bodies import MAX_DEPTH
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["\x00", "a\x00b", "<script>alert(1)</script>", "é" * 300, "P1", "firing"]),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
KNOWN_FIELDS = [
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "summary",
    "severity",
    "source",
    "alerts",
    "status",
    "fingerprint",
    "labels",
    "version",
    "groupKey",
    "message",
    "alias",
    "priority",
    "details",
    "links",
    "custom_details",
    "timestamp",
]


texts = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["\x00", "a\x00b", "<b>x</b>", "é" * 300, " ", "x" * 1100]),
)


def well_formed(keys: dict[str, str]) -> st.SearchStrategy[Any]:
    """Bodies each format accepts, with awkward text in every field."""
    pagerduty = st.fixed_dictionaries(
        {
            "routing_key": st.just(keys["pagerduty"]),
            "event_action": st.sampled_from(["trigger", "acknowledge", "resolve"]),
            "dedup_key": texts,
            "payload": st.fixed_dictionaries(
                {
                    "summary": texts,
                    "source": texts,
                    "severity": st.sampled_from(["critical", "error", "warning", "info"]),
                },
                optional={"custom_details": json_values, "component": texts},
            ),
        },
        optional={"links": st.lists(st.fixed_dictionaries({"href": texts, "text": texts}))},
    )
    alert = st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "labels": st.dictionaries(texts, texts, max_size=4),
            "annotations": st.dictionaries(texts, texts, max_size=3),
            "fingerprint": texts,
        }
    )
    webhook = st.fixed_dictionaries(
        {
            "version": st.just("4"),
            "groupKey": texts,
            "alerts": st.lists(alert, min_size=1, max_size=3),
        }
    )
    opsgenie = st.fixed_dictionaries(
        {"message": texts},
        optional={"alias": texts, "description": texts, "priority": st.sampled_from(["P1", "P5"])},
    )
    return st.one_of(pagerduty, webhook, opsgenie)


def near_valid(keys: dict[str, str]) -> st.SearchStrategy[Any]:
    """Bodies shaped like the real formats with the wrong types and values in places."""
    field_values = st.one_of(json_values, st.sampled_from(list(keys.values())))
    objects = st.dictionaries(st.sampled_from(KNOWN_FIELDS), field_values, max_size=8)
    return st.one_of(
        json_values,
        objects,
        st.fixed_dictionaries(
            {"routing_key": st.sampled_from(list(keys.values())), "event_action": json_values},
            optional={"dedup_key": json_values, "payload": objects, "links": json_values},
        ),
        st.fixed_dictionaries(
            {"alerts": st.lists(objects, max_size=3)},
            optional={
                "version": st.sampled_from(["1", "4", 4, None]),
                "groupKey": json_values,
            },
        ),
    )


@pytest.fixture
def world(db: Session) -> dict[str, Any]:
    svc = catalog.create_service(db, name="Fuzzed")
    keys = {}
    for kind in ("pagerduty", "alertmanager", "webhook", "opsgenie", "heartbeat"):
        _, keys[kind] = alerts.create_integration(db, service_id=svc.id, name=kind, type=kind)
    other = catalog.create_service(db, name="Bystander")
    _, bystander_key = alerts.create_integration(db, service_id=other.id, name="bystander")
    db.commit()
    return {"keys": keys, "bystander": bystander_key}


def _snapshot(container: Container, key: str) -> list[tuple[Any, ...]]:
    settle(container)
    with container.sessionmaker() as s:
        integration = alerts.integration_by_key(s, key)
        assert integration is not None
        rows = s.scalars(select(Alert).where(Alert.integration_id == integration.id))
        return sorted((a.id, a.status, a.event_count, a.summary) for a in rows)


def test_no_body_makes_a_5xx_or_touches_other_alerts(
    client: TestClient, world: dict[str, Any], container: Container
) -> None:
    keys = world["keys"]
    bystander = world["bystander"]
    trigger = {
        "routing_key": bystander,
        "event_action": "trigger",
        "dedup_key": "keep-me",
        "payload": {"summary": "untouched", "source": "x", "severity": "error"},
    }
    assert client.post("/v2/enqueue", json=trigger).status_code == 202
    before = _snapshot(container, bystander)
    assert len(before) == 1
    genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
    targets = [
        ("/v2/enqueue", {}),
        ("/v2/change/enqueue", {}),
        (f"/hooks/{keys['alertmanager']}", {}),
        (f"/hooks/{keys['webhook']}", {}),
        (f"/hooks/{keys['pagerduty']}", {}),
        ("/opsgenie/v2/alerts", genie),
        ("/opsgenie/v2/alerts/keep-me/close?identifierType=alias", genie),
        ("/opsgenie/v2/alerts/1/acknowledge", genie),
        ("/opsgenie/v2/alerts/keep-me/notes?identifierType=alias", genie),
        ("/opsgenie/v2/alerts/1/notes", genie),
        (f"/heartbeat/{keys['heartbeat']}", {}),
        ("/hooks/not-a-key", {}),
    ]

    @settings(
        max_examples=int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=st.one_of(near_valid(keys), well_formed(keys)),
        target=st.sampled_from(targets),
        raw=st.sampled_from([False, False, False, True]),  # mostly whole, sometimes cut
    )
    def throw(body: Any, target: tuple[str, dict[str, str]], raw: bool) -> None:
        path, headers = target
        text = json.dumps(body)
        content = (text[:-1] if raw and text else text).encode()
        response = client.post(
            path, content=content, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code < 500, (path, body, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json(), dict)  # the format's own error body

    throw()
    assert _snapshot(container, bystander) == before
    with container.sessionmaker() as s:
        failed = list(s.scalars(select(Event).where(Event.outcome == "failed")))
        assert not failed, [(e.action, e.outcome_detail) for e in failed]


def test_deeply_nested_json_gets_the_formats_400(
    client: TestClient, world: dict[str, Any], admin: User, db: Session, live_server: str
) -> None:
    """Nesting beyond what a decoder can follow (tens of thousands of levels) or beyond
    MAX_DEPTH (the limit docs/alerts.md states) is refused like any malformed body, with the
    format's own error body; MAX_DEPTH levels are fine."""
    keys = world["keys"]
    genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
    pagerduty = (
        f'{{"routing_key": "{keys["pagerduty"]}", "event_action": "trigger", "payload": '
        '{"summary": "s", "source": "x", "severity": "error", "custom_details": %s}}'
    )

    def message(answer: Any) -> str:
        return str(answer["message"])

    def first_error(answer: Any) -> str:
        return str(answer["errors"][0])

    # (path, headers, the body around a nested value, where the error body says why)
    targets: list[tuple[str, dict[str, str], str, Callable[[Any], str]]] = [
        ("/v2/enqueue", {}, pagerduty, message),
        ("/v2/change/enqueue", {}, '{"x": %s}', first_error),
        (f"/hooks/{keys['alertmanager']}", {}, '{"alerts": %s}', first_error),
        (f"/hooks/{keys['webhook']}", {}, '{"summary": "s", "x": %s}', first_error),
        ("/opsgenie/v2/alerts", genie, '{"message": "m", "x": %s}', message),
        ("/opsgenie/v2/alerts/a/close?identifierType=alias", genie, '{"x": %s}', message),
    ]

    def arrays(depth: int) -> str:  # depth counts the body's own object
        return "[" * (depth - 1) + "]" * (depth - 1)

    def objects(depth: int) -> str:
        return '{"a":' * (depth - 1) + "1" + "}" * (depth - 1)

    for path, headers, body, reason in targets:
        for depth in (60_000, 2_000, MAX_DEPTH + 1):
            for nested in (arrays(depth), objects(depth)):
                refused = client.post(path, content=body % nested, headers=headers)
                assert refused.status_code == 400, (path, depth, refused.text)
                said = reason(refused.json())
                assert "nested" in said or "unrecognized" in said, (path, said)
        fine = client.post(path, content=body % arrays(MAX_DEPTH), headers=headers)
        assert fine.status_code < 500, (path, fine.text)
        assert fine.status_code < 400 or "nested" not in reason(fine.json()), (path, fine.text)
    # Served by the HTTP protocol itself (tocsin serve), PagerDuty's answer is the same.
    deep = httpx.post(f"{live_server}/v2/enqueue", content=arrays(100_000), timeout=30)
    assert deep.status_code == 400 and deep.json()["status"] == "invalid event"

    # A refused webhook is kept with its reason (six bodies at each of the two), and its page
    # shows it.
    db.rollback()
    kept = db.scalars(select(Event).where(Event.outcome == "rejected")).all()
    too_deep = [e for e in kept if "nested more than" in e.outcome_detail]
    assert len(too_deep) == 12
    browser_login(client, admin.email)
    for event in too_deep:
        assert client.get(f"/events/{event.id}").status_code == 200
