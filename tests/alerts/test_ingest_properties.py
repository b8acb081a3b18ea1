"""Property-based: whatever body arrives at an ingestion endpoint, the answer is never a 5xx,
and alerts the body does not name are left exactly as they were."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog

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
