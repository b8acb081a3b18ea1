"""The official `pagerduty` client insists on https: serve Tocsin over TLS on loopback (a
throwaway CA from trustme) and point the client's base_url at it, nothing else changed."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pagerduty
import pytest
import trustme
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import free_port, settle, uvicorn_in_thread
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.app import create_app
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.config import Settings


@pytest.fixture
def tls_server(
    settings: Settings, container: Container, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, container=container),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        timeout_graceful_shutdown=2,
    )
    with uvicorn_in_thread(config):
        yield f"https://127.0.0.1:{port}", str(ca_file)


def test_official_pagerduty_client_over_tls(
    tls_server: tuple[str, str], db: Session, container: Container
) -> None:
    base_url, ca_file = tls_server
    svc = catalog.create_service(db, name="Search")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pagerduty client")
    db.commit()
    client = pagerduty.EventsApiV2Client(
        key, base_url=base_url, verify=ssl.create_default_context(cafile=ca_file)
    )
    dedup = client.trigger("Search latency above 2 s", "search-1", severity="warning")
    assert dedup  # Tocsin generated the key and returned it, as PagerDuty does
    assert client.trigger("Search latency above 2 s", "search-1", dedup_key=dedup) == dedup
    client.acknowledge(dedup)
    client.resolve(dedup)
    client.send_change_event(payload={"summary": "Deployed search 4.2", "source": "ci"})
    client.close()
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.dedup_key == dedup and alert.status == "resolved" and alert.event_count == 2
        outcomes = list(s.scalars(select(Event.outcome).order_by(Event.id)))
        assert outcomes == ["created_alert", "deduplicated", "acknowledged", "resolved", "recorded"]
