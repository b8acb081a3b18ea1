"""A real Prometheus Alertmanager (Debian's package) sends to Tocsin through its webhook,
PagerDuty and Opsgenie receivers, unchanged: only the URLs point at Tocsin."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import free_port, missing_service, settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event, Integration
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.incidents.models import Incident

CONFIG = """
route:
  receiver: tocsin
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {base}/hooks/{hook_key}
        send_resolved: true
    pagerduty_configs:
      - url: {base}/v2/enqueue
        routing_key: {routing_key}
        send_resolved: true
    opsgenie_configs:
      - api_url: {base}/opsgenie
        api_key: {genie_key}
        send_resolved: true
        # Also PUT …/v2/alerts/{{alias}}/message and …/description?identifierType=alias after
        # every create.
        update_alerts: true
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        missing_service("prometheus-alertmanager is not installed (apt-get install it)")
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: str) -> str:
        path = tmp_path / "alertmanager.yml"
        path.write_text(config)
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("Alertmanager did not become ready")

    yield start
    for proc in processes:
        proc.terminate()
        proc.wait(timeout=10)


def _wait(check: Callable[[], bool], seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("timed out waiting for Alertmanager's notifications")


def test_alertmanager_webhook_pagerduty_and_opsgenie_receivers(
    alertmanager,
    live_server: str,
    db: Session,
    container: Container,  # type: ignore[no-untyped-def]
) -> None:
    svc = catalog.create_service(db, name="Web")
    hook, hook_key = alerts.create_integration(
        db, service_id=svc.id, name="AM webhook", type="alertmanager"
    )
    pd, routing_key = alerts.create_integration(db, service_id=svc.id, name="AM as PagerDuty")
    og, genie_key = alerts.create_integration(
        db, service_id=svc.id, name="AM as Opsgenie", type="opsgenie"
    )
    db.commit()
    hook_id, pd_id, og_id = hook.id, pd.id, og.id
    am = alertmanager(
        CONFIG.format(
            base=live_server, hook_key=hook_key, routing_key=routing_key, genie_key=genie_key
        )
    )

    def post(ends: datetime) -> None:
        body = [
            {
                "labels": {"alertname": "DiskFull", "instance": f"db-{i}", "severity": "warning"},
                "annotations": {"summary": "Disk almost full"},
                "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                "endsAt": ends.isoformat(),
            }
            for i in (1, 2)
        ]
        assert httpx.post(f"{am}/api/v2/alerts", json=body, timeout=5).status_code == 200

    def counts(status: str | None = None) -> dict[int, int]:
        settle(container)
        with container.sessionmaker() as s:
            query = select(Alert.integration_id, func.count(Alert.id)).group_by(
                Alert.integration_id
            )
            if status:
                query = query.where(Alert.status == status)
            return dict(s.execute(query).all())  # type: ignore[arg-type]

    post(datetime.now(UTC) + timedelta(hours=1))
    # The webhook makes one alert per Alertmanager alert; PagerDuty and Opsgenie one per group.
    _wait(lambda: counts() == {hook_id: 2, pd_id: 1, og_id: 1})
    settle(container)
    with container.sessionmaker() as s:
        incidents = s.scalars(select(Incident)).all()
        # Grouping is by Alertmanager group: the webhook's two alerts carry its groupKey, and
        # the PagerDuty and Opsgenie receivers both key their one alert by the SHA-256 of it,
        # so those two join one incident. The webhook carries the severity label (warning →
        # SEV3).
        assert len(incidents) == 2
        by_integration = dict(s.execute(select(Alert.integration_id, Alert.incident_id)).all())
        assert by_integration[pd_id] == by_integration[og_id] != by_integration[hook_id]
        hook_incident = s.get(Incident, by_integration[hook_id])
        assert hook_incident is not None and hook_incident.severity.name == "SEV3"
        assert {i.title for i in incidents} >= {"Disk almost full (db-1)"}
    # update_alerts: the message and description updates that follow the create are applied.
    _wait(lambda: _updates(container, og_id) >= {"message", "description"})
    post(datetime.now(UTC) - timedelta(seconds=5))
    _wait(lambda: counts("resolved") == {hook_id: 2, pd_id: 1, og_id: 1})
    settle(container)
    with container.sessionmaker() as s:
        assert {i.status for i in s.scalars(select(Incident))} == {"resolved"}
        assert s.scalar(select(func.count(Integration.id))) == 3
        og_alert = s.scalars(select(Alert).where(Alert.integration_id == og_id)).one()
        assert og_alert.summary.startswith("[FIRING:2] DiskFull")
        assert "Disk almost full" in og_alert.details["description"]
        outcomes = set(s.scalars(select(Event.outcome).where(Event.integration_id == og_id)))
        assert outcomes <= {"created_alert", "deduplicated", "updated", "resolved"}, outcomes
    # Alertmanager counted every notification of every receiver delivered, none failed.
    failed = _metric(am, "alertmanager_notifications_failed_total")
    sent = _metric(am, "alertmanager_notifications_total")
    assert sent["opsgenie"] >= 2 and sent["pagerduty"] >= 2 and sent["webhook"] >= 2, sent
    assert failed == {"opsgenie": 0, "pagerduty": 0, "webhook": 0}, failed


def _updates(container: Container, integration_id: int) -> set[str]:
    """The actions of the integration's events that updated an alert."""
    with container.sessionmaker() as s:
        found = s.scalars(
            select(Event.action).where(
                Event.integration_id == integration_id, Event.outcome == "updated"
            )
        )
        return set(found)


def _metric(am: str, name: str) -> dict[str, float]:
    """A counter of Alertmanager's /metrics, by integration (summed over its other labels)."""
    text = httpx.get(f"{am}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels, value = line[len(name) + 1 :].rsplit("} ", 1)
        integration = re.search(r'integration="([^"]+)"', labels)
        if integration and integration.group(1) in ("opsgenie", "pagerduty", "webhook"):
            key = integration.group(1)
            values[key] = values.get(key, 0.0) + float(value)
    return values
