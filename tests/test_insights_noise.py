"""The Alert noise tab of Insights: figures computed by hand for a seeded September, compared
with the page, the CSV exports and the JSON.

The organisation's time zone is America/New_York (EDT, UTC-4 in September): September is
2026-09-01 04:00 UTC to 2026-10-01 04:00 UTC, and an alert at 01:30 UTC on the 10th counts on
the 9th.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from math import ceil

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded
from tests.conftest import ADMIN_PASSWORD, api_as, browser_login, settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event, Integration, MaintenanceWindow
from tocsin.app import create_app
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident

SEPTEMBER = "period=month&date=2026-09-15"


def at(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def client(settings: Settings, container: Container) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"org_timezone": "America/New_York"}), container=container
    )
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


class Seeded:
    """What the tests look up by name."""

    def __init__(self, **items: object) -> None:
        self.__dict__.update(items)


@pytest.fixture
def seeded(db: Session, admin: User) -> Seeded:
    """Two teams' sources, a drill, a restricted incident, suppression and maintenance."""
    payments = catalog.create_team(db, name="Payments")
    discovery = catalog.create_team(db, name="Discovery")
    checkout = catalog.create_service(db, name="Checkout", team_id=payments.id)
    search = catalog.create_service(db, name="Search", team_id=discovery.id)
    prom, _ = alerts.create_integration(db, service_id=checkout.id, name="Checkout Prometheus")
    graf, _ = alerts.create_integration(db, service_id=search.id, name="Search Grafana")
    sev = {s.name: s.id for s in db.scalars(select(Severity))}

    def declare(title: str, detected: datetime, service_id: int, **kw: object) -> Incident:
        return incidents.declare(
            db, by=admin, title=title, service_ids=[service_id], severity_id=sev["SEV2"],
            started_at=detected, detected_at=detected, **kw,
        )  # fmt: skip

    i1 = declare("Checkout CPU saturated", at(10, 1, 30), checkout.id)
    i1.acknowledged_at = at(10, 2, 10)
    i2 = declare("Card data exposed", at(12, 12), checkout.id, restricted=True)
    i2.severity_id = sev["SEV1"]
    i3 = declare("Drill: checkout down", at(15, 12), checkout.id, drill=True)
    i4 = declare("Search slow", at(20, 12), search.id)
    i4.acknowledged_at = at(20, 12, 1)
    declare("Manual report", at(25, 12), search.id)  # in scope, no alerts

    def alert(
        integration: Integration, key: str, created: datetime, *, incident: Incident | None,
        resolved: datetime | None = None, acked: datetime | None = None, events: int = 1,
    ) -> Alert:  # fmt: skip
        # Seeded in order of creation per key; the time since the key's previous alert
        # resolved is what ingestion stores (tested through real events in
        # test_ingestion_stores_how_long_a_key_was_quiet).
        previous = last_resolved.get((integration.id, key))
        row = Alert(
            integration_id=integration.id, service_id=integration.service_id,
            incident_id=incident.id if incident else None, dedup_key=key,
            summary=f"{key} on {integration.name}",
            status="resolved" if resolved else "triggered", event_count=events,
            created_at=created, last_event_at=created, acknowledged_at=acked, resolved_at=resolved,
            quiet_seconds=None if previous is None else ceil((created - previous).total_seconds()),
        )  # fmt: skip
        last_resolved[(integration.id, key)] = resolved
        db.add(row)
        db.flush()
        return row

    last_resolved: dict[tuple[int, str], datetime | None] = {}

    # Checkout Prometheus.
    alert(prom, "mem", at(31, 20, month=8), incident=None, resolved=at(1, 4, 10))  # August
    alert(prom, "late", at(1, 3), incident=None, resolved=at(1, 3, 5))  # 31 Aug 23:00 local
    alert(prom, "mem", at(1, 4, 20), incident=None, resolved=at(1, 4, 30))  # a8
    alert(prom, "cpu-high", at(10, 1, 30), incident=i1, resolved=at(10, 1, 50), events=3)  # a1
    alert(prom, "cpu-high", at(10, 2, 5), incident=i1, resolved=at(10, 2, 30), events=2)  # a2
    alert(prom, "cpu-high", at(10, 3, 30), incident=i1, resolved=at(10, 3, 40))  # a3
    a4 = alert(prom, "disk-full", at(12, 12), incident=i2, resolved=at(12, 12, 30),
               acked=at(12, 12, 10), events=5)  # fmt: skip
    alert(prom, "disk-full", at(12, 12, 45), incident=i2)  # a5, still open
    a6 = alert(prom, "drill-key", at(15, 12), incident=i3, resolved=at(15, 12, 5), events=9)
    # Search Grafana.
    alert(graf, "latency", at(20, 12), incident=i4, resolved=at(20, 12, 30), acked=at(20, 12, 1),
          events=4)  # b1  # fmt: skip
    alert(graf, "latency", at(20, 13), incident=i4, resolved=at(20, 13, 10))  # b2
    alert(graf, "errors", at(21, 12), incident=None, events=7)  # b3, open

    drop = alerts.create_suppression_rule(
        db, service_id=checkout.id, name="Drop canary noise",
        matchers=[{"field": "summary", "op": "contains", "value": "canary"}],
    )  # fmt: skip
    lower = alerts.create_suppression_rule(
        db, service_id=checkout.id, name="Lower disk warnings", action="downgrade",
        severity="warning", matchers=[{"field": "summary", "op": "contains", "value": "disk"}],
    )  # fmt: skip
    window = MaintenanceWindow(
        service_id=search.id, starts_at=at(22, 10), ends_at=at(22, 12), reason="Database upgrade"
    )
    db.add(window)
    db.flush()

    def event(received: datetime, integration: Integration, outcome: str, **kw: object) -> None:
        db.add(
            Event(
                integration_id=integration.id, service_id=integration.service_id,
                received_at=received, action="trigger", dedup_key="k", outcome=outcome,
                processed_at=received, **kw,
            )
        )  # fmt: skip

    event(at(20, 9, month=8), prom, "suppressed", rule_id=drop.id)  # August
    event(at(5, 9), prom, "suppressed", rule_id=drop.id)
    event(at(6, 9), prom, "suppressed", rule_id=drop.id)
    event(at(12, 12), prom, "created_alert", rule_id=lower.id, alert_id=a4.id)
    event(at(15, 12), prom, "created_alert", rule_id=lower.id, alert_id=a6.id)  # the drill's
    for minute in (0, 20, 40):
        event(at(22, 10, minute), graf, "maintenance", maintenance_window_id=window.id)
    db.commit()
    return Seeded(payments=payments, i1=i1, i2=i2, i4=i4, rule=drop, window=window)


class Tables(HTMLParser):
    """The page's tables: caption → rows of cell texts (header row left out)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._in_caption = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._head = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and not self._head:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
            assert self._caption is not None
            self.tables[self._caption.strip()] = []
        elif tag == "thead":
            self._head = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            assert self._caption is not None
            self.tables[self._caption.strip()].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell.append(data)


def table(page: str, caption_start: str) -> list[list[str]]:
    found = [
        rows for caption, rows in Tables(page).tables.items() if caption.startswith(caption_start)
    ]
    assert len(found) == 1, (caption_start, list(Tables(page).tables))
    return found[0]


def csv_rows(client: TestClient, query: str) -> list[list[str]]:
    response = client.get(f"/insights/noise.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))[1:]


def test_the_noise_of_september_by_hand(
    client: TestClient, db: Session, admin: User, seeded: Seeded
) -> None:
    browser_login(client, admin.email)
    page = client.get(f"/insights/noise?{SEPTEMBER}")
    assert page.status_code == 200, page.text
    html = page.text
    # In scope: Checkout Prometheus a1 a2 a3 a4 a5 a8 (6; the drill's alert and those of
    # August, local time, left out), Search Grafana b1 b2 b3 (3). Events: 3+2+1+5+1+1 = 13
    # and 4+1+7 = 12. Incidents opened: a1 (INC-1) and a4 (INC-2); b1 (INC-4).
    # Resolved before an acknowledgement: a1 (its incident acknowledged at 02:10, after it
    # resolved at 01:50) and a8 (no incident): 2 of 6 = 33.3%; a2 and a3 resolved after the
    # incident's acknowledgement, a4 and b1 were acknowledged, a5 and b3 are open.
    assert "9 alerts created in this period from 2 sources, 25 events counted on them." in html
    sources = [
        ["Checkout Prometheus", "Checkout", "6", "13", "2", "33.3%"],
        ["Search Grafana", "Search", "3", "12", "1", "0.0%"],
    ]
    assert table(html, "Alerts per source") == sources
    assert csv_rows(client, f"table=sources&{SEPTEMBER}") == [
        ["Checkout Prometheus", "Checkout", "6", "13", "2", "2", "33.3"],
        ["Search Grafana", "Search", "3", "12", "1", "0", "0.0"],
    ]
    assert '<svg class="chart"' in html
    # Dedup keys, most alerts then most events: cpu-high a1-a3 (3 alerts, 3+2+1 events),
    # disk-full a4 a5 (2, 6), latency b1 b2 (2, 5), errors b3 (1, 7), mem a8 (1, 1).
    keys = [
        ["cpu-high", "Checkout Prometheus", "Checkout", "3", "6"],
        ["disk-full", "Checkout Prometheus", "Checkout", "2", "6"],
        ["latency", "Search Grafana", "Search", "2", "5"],
        ["errors", "Search Grafana", "Search", "1", "7"],
        ["mem", "Checkout Prometheus", "Checkout", "1", "1"],
    ]
    assert table(html, "Alerts per dedup key") == keys
    assert csv_rows(client, f"table=keys&{SEPTEMBER}") == [
        [k[1], k[2], k[0], k[3], k[4]] for k in keys
    ]
    # Flaps within 30 minutes: a2 (15 min after a1 resolved), a5 (15 after a4), a8 (10 after
    # August's mem alert resolved), b2 (exactly 30 after b1); a3 came 60 minutes after a2.
    assert "4 flaps on 4 keys." in html
    flapping = table(html, "Flaps per dedup key within 30 minutes")
    assert sorted(flapping) == sorted(
        [
            ["cpu-high", "Checkout Prometheus", "Checkout", "1"],
            ["disk-full", "Checkout Prometheus", "Checkout", "1"],
            ["mem", "Checkout Prometheus", "Checkout", "1"],
            ["latency", "Search Grafana", "Search", "1"],
        ]
    )
    # Within 60 minutes a3 flaps too; within 5, nothing does.
    wide = client.get(f"/insights/noise?{SEPTEMBER}&window=60").text
    assert "5 flaps on 4 keys." in wide
    assert table(wide, "Flaps per dedup key within 60 minutes")[0] == [
        "cpu-high", "Checkout Prometheus", "Checkout", "2",
    ]  # fmt: skip
    assert csv_rows(client, f"table=flapping&window=60&{SEPTEMBER}")[0] == [
        "Checkout Prometheus", "Checkout", "cpu-high", "2",
    ]  # fmt: skip
    assert (
        "No flapping alerts in this period."
        in client.get(f"/insights/noise?{SEPTEMBER}&window=5").text
    )
    # Resolved before anyone acknowledged: 2 of 9 alerts, all of them Checkout's.
    assert "2 of 9 alerts (22.2%) resolved with no acknowledgement" in html
    assert table(html, "Alerts resolved before anyone acknowledged") == [
        ["Checkout Prometheus", "Checkout", "6", "2", "33.3%"]
    ]
    # Per local day: 1 Sep a8 (00:20 EDT); 9 Sep a1 a2 a3 (21:30 to 23:30 EDT on the 9th);
    # 12 Sep a4 a5; 20 Sep b1 b2; 21 Sep b3.
    days = {row[0]: row[1] for row in table(html, "Alerts created per day")}
    assert len(days) == 30
    assert {d: n for d, n in days.items() if n != "0"} == {
        "2026-09-01": "1", "2026-09-09": "3", "2026-09-12": "2", "2026-09-20": "2",
        "2026-09-21": "1",
    }  # fmt: skip
    volume = csv_rows(client, f"table=volume&{SEPTEMBER}")
    assert len(volume) == 30 and ["2026-09-09", "3"] in volume and ["2026-09-10", "0"] in volume
    # Alerts per incident: INC-1 3 (a1-a3), INC-2 2 (a4 a5), INC-4 2 (b1 b2); INC-5 none;
    # the drill INC-3 out. Sorted 2 2 3: median 2, p90 the 3rd of 3 = 3, max 3.
    assert (
        "3 of the 4 incidents detected in this period had alerts: median 2.0, p90 3, max 3" in html
    )
    assert table(html, "The incidents with the most alerts") == [
        ["INC-1", "Checkout CPU saturated", "3"],
        ["INC-2", "Card data exposed", "2"],  # the admin sees the restricted one
        ["INC-4", "Search slow", "2"],
    ]
    assert "counted but not listed" not in html
    # Suppression: the drop rule's two September events (August's left out), the downgrade's
    # one (the drill's left out); maintenance: three held events.
    assert table(html, "Trigger events per suppression rule") == [
        ["Drop canary noise", "Checkout", "2", "0", "2"],
        ["Lower disk warnings", "Checkout", "0", "1", "1"],
    ]
    assert table(html, "Trigger events held per maintenance window") == [
        ["Database upgrade", "Search", "2026-09-22 10:00", "2026-09-22 12:00", "3"]
    ]
    assert csv_rows(client, f"table=windows&{SEPTEMBER}") == [
        ["Database upgrade", "Search", "2026-09-22T10:00:00+00:00", "2026-09-22T12:00:00+00:00",
         "3"]
    ]  # fmt: skip
    assert csv_rows(client, f"table=rules&{SEPTEMBER}")[0] == [
        "Drop canary noise", "Checkout", "2", "0", "2",
    ]  # fmt: skip
    assert csv_rows(client, f"table=auto-resolved&{SEPTEMBER}") == [
        ["Checkout Prometheus", "Checkout", "6", "2", "33.3"]
    ]
    assert csv_rows(client, f"table=incidents&{SEPTEMBER}")[1] == [
        "INC-2", "Card data exposed", "2",
    ]  # fmt: skip
    # Every table has its download link.
    for name in ("sources", "keys", "flapping", "auto-resolved", "volume", "incidents",
                 "rules", "windows"):  # fmt: skip
        assert f'href="/insights/noise.csv?table={name}&amp;' in html

    # The same figures as JSON.
    body = client.get(f"/api/v1/insights/noise?{SEPTEMBER}").json()
    assert (body["alerts"], body["events"], body["auto_resolved"]) == (9, 25, 2)
    assert [
        (s["integration"], s["alerts"], s["events"], s["incidents_opened"], s["auto_resolved"])
        for s in body["sources"]
    ] == [("Checkout Prometheus", 6, 13, 2, 2), ("Search Grafana", 3, 12, 1, 0)]
    assert [(k["dedup_key"], k["alerts"], k["events"]) for k in body["keys"]] == [
        (k[0], int(k[3]), int(k[4])) for k in keys
    ]
    assert (body["window"], body["flaps"], body["flapping_keys"]) == (30, 4, 4)
    assert body["per_incident"] == {
        "incidents_in_scope": 4, "incidents_with_alerts": 3, "median": 2.0, "p90": 3.0,
        "mean": pytest.approx(7 / 3), "max": 3,
    }  # fmt: skip
    assert [i["reference"] for i in body["top_incidents"]] == ["INC-1", "INC-2", "INC-4"]
    assert [(r["rule"], r["dropped"], r["downgraded"]) for r in body["rules"]] == [
        ("Drop canary noise", 2, 0), ("Lower disk warnings", 0, 1),
    ]  # fmt: skip
    assert [(w["reason"], w["hits"]) for w in body["windows"]] == [("Database upgrade", 3)]
    assert sum(b["alerts"] for b in body["volume"]) == 9 and body["bucket"] == "day"


def test_a_team_and_a_severity_narrow_the_alerts(
    client: TestClient, db: Session, admin: User, seeded: Seeded
) -> None:
    headers = api_as(client, db, admin)
    # Payments owns Checkout: its 6 alerts, its rules; the Search window is not its.
    body = client.get(f"/api/v1/insights/noise?{SEPTEMBER}&team=payments", headers=headers).json()
    assert body["alerts"] == 6 and [s["integration"] for s in body["sources"]] == [
        "Checkout Prometheus"
    ]
    assert body["flaps"] == 3 and body["windows"] == [] and len(body["rules"]) == 2
    # SEV1: only the alerts of INC-2 (a4, a5; a5 flapped), the downgrade of a4.
    body = client.get(f"/api/v1/insights/noise?{SEPTEMBER}&severity=SEV1", headers=headers).json()
    assert (body["alerts"], body["events"], body["flaps"]) == (2, 6, 1)
    assert [(r["rule"], r["downgraded"]) for r in body["rules"]] == [("Lower disk warnings", 1)]
    assert body["per_incident"]["incidents_with_alerts"] == 1


def test_a_restricted_incident_is_counted_but_not_named_to_others(
    client: TestClient, db: Session, seeded: Seeded
) -> None:
    # A responder elsewhere in the world, not involved in INC-2: the days are still the
    # organisation's.
    catalog.create_user(
        db, name="Tomo", email="tomo@example.com", role="responder", timezone="Asia/Tokyo",
        password=ADMIN_PASSWORD,
    )  # fmt: skip
    db.commit()
    browser_login(client, "tomo@example.com")
    html = client.get(f"/insights/noise?{SEPTEMBER}").text
    assert "Card data exposed" not in html and "INC-2" not in html
    assert "1 private incident is counted but not listed." in html
    assert table(html, "The incidents with the most alerts") == [
        ["INC-1", "Checkout CPU saturated", "3"],
        ["INC-4", "Search slow", "2"],
    ]
    assert "median 2.0, p90 3, max 3" in html  # INC-2 still counted
    assert {r[0]: r[1] for r in table(html, "Alerts created per day")}["2026-09-09"] == "3"
    exported = client.get(f"/insights/noise.csv?table=incidents&{SEPTEMBER}").text
    assert "Card data exposed" not in exported and "INC-2" not in exported
    body = client.get(f"/api/v1/insights/noise?{SEPTEMBER}").json()
    assert body["hidden_incidents"] == 1
    assert [i["reference"] for i in body["top_incidents"]] == ["INC-1", "INC-4"]
    assert body["alerts"] == 9


def test_bad_input_gets_a_clear_message(
    client: TestClient, db: Session, admin: User, seeded: Seeded
) -> None:
    headers = api_as(client, db, admin)
    unknown = client.get("/api/v1/insights/noise?team=Nope", headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == "there is no team 'Nope'"
    reversed_range = client.get(
        "/api/v1/insights/noise?from=2026-09-30&to=2026-09-01", headers=headers
    )
    assert reversed_range.status_code == 422
    assert "wrong order" in reversed_range.json()["error"]["message"]
    assert client.get("/api/v1/insights/noise?window=0", headers=headers).status_code == 422

    browser_login(client, admin.email)
    page = client.get("/insights/noise?team=Nope")
    assert page.status_code == 422 and "there is no team &#39;Nope&#39;" in page.text
    page = client.get("/insights/noise?from=2026-09-30&to=2026-09-01")
    assert page.status_code == 422 and "wrong order" in page.text
    for window in ("0", "1441", "ten"):
        page = client.get(f"/insights/noise?{SEPTEMBER}&window={window}")
        assert page.status_code == 422
        assert "window must be a whole number of minutes from 1 to 1440" in page.text
    export = client.get(f"/insights/noise.csv?table=everything&{SEPTEMBER}")
    assert export.status_code == 422 and "table must be one of sources, keys" in export.text
    export = client.get("/insights/noise.csv?table=sources&team=Nope")
    assert export.status_code == 422 and export.text == "there is no team 'Nope'"
    export = client.get(f"/insights/noise.csv?table=flapping&window=2000&{SEPTEMBER}")
    assert export.status_code == 422 and "window must be" in export.text


def test_a_period_with_no_alerts_says_so(client: TestClient, admin: User) -> None:
    browser_login(client, admin.email)
    html = client.get("/insights/noise?period=week&date=2026-06-03").text
    assert "No alerts in this period." in html
    assert "No flapping alerts in this period." in html
    assert "No incidents with alerts in this period." in html
    assert "No events suppressed in this period." in html
    assert '<svg class="chart"' not in html


def test_insights_need_a_login(client: TestClient) -> None:
    assert client.get("/api/v1/insights/noise").status_code == 401
    assert client.get("/insights/noise", follow_redirects=False).status_code in (302, 303)
    assert client.get("/insights/noise.csv?table=sources", follow_redirects=False).status_code in (
        302,
        303,
    )


def test_ingestion_stores_how_long_a_key_was_quiet_and_the_tab_counts_the_flap(
    settings: Settings, container: Container, db: Session, admin: User
) -> None:
    """Trigger, resolve and trigger again through the PagerDuty endpoint: the second alert
    of the key records how long the key was quiet, and this week's noise counts one flap;
    a repeat of the open alert changes nothing."""
    checkout = catalog.create_service(db, name="Checkout")
    integration, routing_key = alerts.create_integration(db, service_id=checkout.id, name="pd")
    db.commit()
    app = create_app(settings, container=container)
    with TestClient(app, base_url="http://testserver") as client:

        def send(action: str) -> None:
            payload = {"summary": "disk full", "source": "db1", "severity": "error"}
            body = {"routing_key": routing_key, "event_action": action, "dedup_key": "disk"}
            body["payload"] = payload
            assert client.post("/v2/enqueue", json=body).status_code == 202
            settle(container)

        for action in ("trigger", "trigger", "resolve", "trigger", "trigger"):
            send(action)
        db.rollback()
        first, second = db.scalars(
            select(Alert).where(Alert.integration_id == integration.id).order_by(Alert.id)
        ).all()
        assert first.quiet_seconds is None and first.event_count == 2
        assert first.resolved_at is not None
        gap = ceil((second.created_at - first.resolved_at).total_seconds())
        assert second.quiet_seconds == gap and 0 <= gap < 60
        assert second.event_count == 2
        body = client.get(
            "/api/v1/insights/noise?period=week&window=1", headers=api_as(client, db, admin)
        ).json()
        assert (body["alerts"], body["events"], body["flaps"]) == (2, 4, 1)
        assert body["flapping"][0]["dedup_key"] == "disk"


def test_alerts_from_before_0042_get_how_long_their_key_was_quiet(
    settings: Settings, container: Container, db: Session
) -> None:
    """Migration 0042 computes `quiet_seconds` for the alerts that exist, per integration and
    key in order of creation, rounded up to whole seconds as ingestion does."""
    checkout = catalog.create_service(db, name="Checkout")
    prom, _ = alerts.create_integration(db, service_id=checkout.id, name="prom")
    graf, _ = alerts.create_integration(db, service_id=checkout.id, name="graf")
    base = at(10, 12)

    def alert(integration: Integration, key: str, created: float, resolved: float | None) -> int:
        row = Alert(
            integration_id=integration.id, service_id=checkout.id, dedup_key=key, summary=key,
            status="resolved" if resolved is not None else "triggered",
            created_at=base + timedelta(seconds=created),
            last_event_at=base + timedelta(seconds=created),
            resolved_at=None if resolved is None else base + timedelta(seconds=resolved),
        )  # fmt: skip
        db.add(row)
        db.flush()
        return row.id

    # Inserted out of order of creation, as rows of several processes may be.
    third = alert(prom, "cpu", 600.25, None)
    first = alert(prom, "cpu", 0, 100.5)
    second = alert(prom, "cpu", 160, 400.25)  # 59.5 s after the first resolved: 60
    other_key = alert(prom, "mem", 101, 200)
    other_integration = alert(graf, "cpu", 120, 130)
    # A resolve at .9996 of a second: 99.0004 s later rounds up to 100 (SQLite's date
    # functions would round the time itself up to the next second).
    alert(prom, "disk", 0, 200.9996)
    disk = alert(prom, "disk", 300, None)
    db.commit()
    with downgraded(settings, container, "0041"):
        pass
    db.expire_all()
    quiet = dict(db.execute(select(Alert.id, Alert.quiet_seconds)).all())
    assert {i: q for i, q in quiet.items() if q is not None} == {second: 60, third: 200, disk: 100}
    assert quiet[first] is quiet[other_key] is quiet[other_integration] is None
