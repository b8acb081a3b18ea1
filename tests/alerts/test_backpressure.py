"""Under a per-key limit, overload or a database that cannot take the event, senders get
429 or 503 with Retry-After, never a 2xx for an event that was not stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Event
from tocsin.alerts.writer import EventWriter
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.catalog import service as catalog
from tocsin.config import Settings

FIRING = {
    "version": "4",
    "groupKey": "g",
    "status": "firing",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "A"}, "fingerprint": "a"},
        {"status": "firing", "labels": {"alertname": "B"}, "fingerprint": "b"},
    ],
}


def _trigger(key: str, n: int) -> dict[str, object]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": f"k{n}",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
    }


@pytest.fixture
def keys(db: Session) -> dict[str, str]:
    svc = catalog.create_service(db, name="Limited")
    _, pd = alerts.create_integration(db, service_id=svc.id, name="pd")
    _, am = alerts.create_integration(db, service_id=svc.id, name="am", type="alertmanager")
    db.commit()
    return {"pd": pd, "am": am}


def _client(settings: Settings, **changes: object) -> Iterator[tuple[TestClient, Container]]:
    built = build(settings.model_copy(update=changes))
    with TestClient(create_app(built.settings, container=built)) as client:
        yield client, built
    built.close()


def test_per_key_limit_answers_429_with_retry_after(
    settings: Settings, keys: dict[str, str]
) -> None:
    for client, built in _client(settings, ingest_rate_limit_per_minute=3):
        answers = [client.post("/v2/enqueue", json=_trigger(keys["pd"], n)) for n in range(5)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert answers[3].json()["status"] == "error"  # PagerDuty's error body
        settle(built)
        with built.sessionmaker() as s:  # exactly the accepted ones are stored
            assert s.scalar(select(func.count(Event.id))) == 3


def test_limits_are_off_by_default(client: TestClient, keys: dict[str, str]) -> None:
    answers = [client.post("/v2/enqueue", json=_trigger(keys["pd"], n)) for n in range(30)]
    assert {a.status_code for a in answers} == {202}


def test_overload_answers_429(settings: Settings, keys: dict[str, str]) -> None:
    for client, built in _client(settings, ingest_max_waiting=1):
        response = client.post(f"/hooks/{keys['am']}", json=FIRING)  # two events, room for one
        assert response.status_code == 429 and response.headers["Retry-After"]
        with built.sessionmaker() as s:
            assert s.scalar(select(func.count(Event.id))) == 0


def test_database_unavailable_answers_503(
    settings: Settings, keys: dict[str, str], tmp_path: Path
) -> None:
    for client, built in _client(settings):
        # Warm the key cache, then take the database away from under the engine.
        assert client.post("/v2/enqueue", json=_trigger(keys["pd"], 0)).status_code == 202
        if built.engine.dialect.name == "sqlite":
            unreachable = f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'x.db'}"
        else:
            unreachable = "postgresql+psycopg://nobody:wrong@127.0.0.1:1/none"
        writer = client.app.state.background.works[0]  # type: ignore[attr-defined]
        assert isinstance(writer, EventWriter)
        writer.durable = sessionmaker(bind=create_engine(unreachable))
        response = client.post("/v2/enqueue", json=_trigger(keys["pd"], 1))
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        hook = client.post(f"/hooks/{keys['am']}", json=FIRING)
        assert hook.status_code == 503 and hook.headers["Retry-After"] == "5"
        settle(built)
        with built.sessionmaker() as s:  # only the first event was stored
            assert s.scalar(select(func.count(Event.id))) == 1


def test_connections_the_database_dropped_are_replaced_without_refusing_events(
    settings: Settings, keys: dict[str, str]
) -> None:
    """A PostgreSQL restart or an idle timeout closes the server side of every pooled
    connection; the next events must still be taken (the writer checks its connection out of
    the pool, which pings it, for every batch), not answered 503."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("server-side disconnects are PostgreSQL's")
    from sqlalchemy import text

    for client, built in _client(settings):
        assert client.post("/v2/enqueue", json=_trigger(keys["pd"], 0)).status_code == 202
        settle(built)
        with built.engine.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert ended >= 1  # the pool's idle connections, the writer's among them
        for n in range(1, 4):
            assert client.post("/v2/enqueue", json=_trigger(keys["pd"], n)).status_code == 202
        settle(built)
        with built.sessionmaker() as s:
            assert s.scalar(select(func.count(Event.id))) == 4
