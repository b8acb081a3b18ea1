"""`POST /v2/enqueue` served from `tocsin serve`'s HTTP protocol (the direct route) answers
exactly as the ASGI endpoint does, stores what it accepts, and leaves to the ASGI endpoint
what needs the database to decide (a key not yet cached, a refused event to keep)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle, token_for
from tocsin.alerts import service as alerts
from tocsin.alerts.hotpath import EnqueueEndpoint
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User


@pytest.fixture
def keys(db: Session) -> dict[str, str]:
    svc = catalog.create_service(db, name="Checkout")
    _, pagerduty = alerts.create_integration(db, service_id=svc.id, name="Prometheus via PD")
    _, webhook = alerts.create_integration(db, service_id=svc.id, name="Hook", type="alertmanager")
    db.commit()
    return {"pagerduty": pagerduty, "alertmanager": webhook}


def _bodies(keys: dict[str, str]) -> list[tuple[str, bytes]]:
    key = keys["pagerduty"]

    def event(**fields: Any) -> bytes:
        import json

        return json.dumps(fields).encode()

    payload = {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}
    return [
        ("trigger", event(routing_key=key, event_action="trigger", dedup_key="disk",
                          payload=payload)),
        ("keyless trigger", event(routing_key=key, event_action="trigger", payload=payload)),
        ("acknowledge", event(routing_key=key, event_action="acknowledge", dedup_key="disk")),
        ("resolve", event(routing_key=key, event_action="resolve", dedup_key="disk")),
        ("not JSON", b"{not json"),
        ("a list", b'["a list"]'),
        ("bad action", event(routing_key=key, event_action="explode")),
        ("no key", event(event_action="trigger", payload=payload)),
        ("summary too long", event(routing_key=key, event_action="trigger",
                                   payload={**payload, "summary": "x" * 1025})),
        ("unknown key", event(routing_key="0" * 32, event_action="trigger", payload=payload)),
        ("webhook's key", event(routing_key=keys["alertmanager"], event_action="trigger",
                                payload=payload)),
        ("too large", b'{"x":"' + b"a" * (600 * 1024) + b'"}'),
    ]  # fmt: skip


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    data = response.json()
    if len(data.get("dedup_key") or "") == 32 and data["dedup_key"] != "disk":
        data["dedup_key"] = "<generated>"
    return response.status_code, data


def test_direct_answers_are_the_asgi_endpoints_answers(
    live_server: str,
    client: TestClient,
    keys: dict[str, str],
    container: Container,
    db: Session,
    admin: User,
) -> None:
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        for name, body in _bodies(keys):
            direct = _answer(http.post("/v2/enqueue", content=body, headers=headers))
            asgi = _answer(client.post("/v2/enqueue", content=body, headers=headers))
            assert direct == asgi, name
            assert direct[0] in (202, 400), name
        token = {"Authorization": f"Bearer {token_for(db, admin)}"}
        metrics = http.get("/metrics", headers=token).text
    # Both servers stored the same accepted events, and kept the same refused one.
    settle(container)
    with container.sessionmaker() as s:
        outcomes = sorted(e.outcome for e in s.scalars(select(Event)))
        # The bad action and the long summary came with a valid key: kept, on both servers.
        assert outcomes.count("rejected") == 2 * 2
        assert len(outcomes) == 2 * 4 + 2 * 2
        alert = s.scalars(select(Alert).where(Alert.dedup_key == "disk")).one()
        assert alert.status == "resolved"
    assert 'route="/v2/enqueue",status="202"' in metrics


def test_events_of_a_cached_key_never_reach_the_asgi_endpoint(
    live_server: str, keys: dict[str, str], container: Container, monkeypatch: Any
) -> None:
    through_asgi: list[str] = []
    original = EnqueueEndpoint.__call__

    async def spy(self: EnqueueEndpoint, scope: Any, receive: Any, send: Any) -> None:
        through_asgi.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(EnqueueEndpoint, "__call__", spy)
    key = keys["pagerduty"]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        for n in range(20):
            body = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": f"key-{n % 5}",
                "payload": {"summary": f"Alert {n % 5}", "source": "bench", "severity": "error"},
            }
            response = http.post("/v2/enqueue", json=body)
            assert response.status_code == 202
            assert response.json()["dedup_key"] == f"key-{n % 5}"
    # Only the first went through ASGI, to look its key up; the other 19 were served directly.
    assert through_asgi == ["/v2/enqueue"]
    settle(container)
    with container.sessionmaker() as s:
        assert len(s.scalars(select(Event)).all()) == 20
        counts = {a.dedup_key: a.event_count for a in s.scalars(select(Alert))}
        assert counts == {f"key-{n}": 4 for n in range(5)}
