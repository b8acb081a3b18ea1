"""The alert pages, used as a person would: create integrations and copy their key once, send
events through the real endpoints, and read on the events pages why each did or didn't page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login, settle, token_for
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, AlertSettings, Event, Integration
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import queries
from tocsin.incidents import service as incidents

BASE = "http://127.0.0.1:8080"  # Settings.base_url's default, which the test settings keep


@pytest.fixture
def web(db: Session) -> int:
    service = catalog.create_service(db, name="Web")
    db.commit()
    return service.id


def _create(client: TestClient, csrf: str, service_id: int, **fields: str) -> Any:
    data = {"csrf_token": csrf, "service_id": str(service_id), "name": "prom", **fields}
    return client.post("/integrations", data=data)


def _key(page: str) -> str:
    found = re.search(r'id="new-key">([0-9a-f]{32})<', page)
    assert found, page
    return found.group(1)


def _integration(db: Session, name: str) -> Integration:
    db.rollback()  # end the read snapshot: see what the requests committed since
    return db.scalars(select(Integration).where(Integration.name == name)).one()


def _trigger(client: TestClient, key: str, dedup: str, summary: str, **extra: Any) -> None:
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": summary, "source": "prom", "severity": "error", **extra},
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202


def test_key_is_shown_once_with_the_url_for_its_type(
    client: TestClient, db: Session, admin: User, web: int
) -> None:
    csrf = browser_login(client, admin.email)
    created = _create(client, csrf, web, type="pagerduty")
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    key = _key(created.text)
    assert "it will not be shown again" in created.text
    assert f"url: {BASE}/v2/enqueue" in created.text
    assert f"routing_key: {key}" in created.text  # the Alertmanager pagerduty_configs snippet

    listing = client.get("/integrations")
    assert key not in listing.text
    assert f"{key[:8]}…" in listing.text
    assert f"{BASE}/v2/enqueue" in listing.text
    integration = _integration(db, "prom")
    detail = client.get(f"/integrations/{integration.id}")
    assert key not in detail.text and f"{key[:8]}…" in detail.text

    hook = _create(client, csrf, web, type="alertmanager", name="am")
    hook_key = _key(hook.text)
    assert f"url: {BASE}/hooks/{hook_key}" in hook.text  # webhook_configs
    genie = _create(client, csrf, web, type="opsgenie", name="genie")
    genie_key = _key(genie.text)
    assert f"api_url: {BASE}/opsgenie" in genie.text
    assert f"Authorization: GenieKey {genie_key}" in genie.text
    beat = _create(client, csrf, web, type="heartbeat", name="cron", interval_seconds="60")
    assert f"curl -fsS -m 10 {BASE}/heartbeat/{_key(beat.text)}" in beat.text
    assert _integration(db, "cron").config["interval_seconds"] == 60
    # On the list only prefixes: the hook URL shows the prefix where the key goes.
    listing = client.get("/integrations").text
    assert hook_key not in listing and f"{BASE}/hooks/{hook_key[:8]}…" in listing
    assert genie_key not in listing


def test_rotate_disable_and_delete(client: TestClient, db: Session, admin: User, web: int) -> None:
    csrf = browser_login(client, admin.email)
    old = _key(_create(client, csrf, web, type="pagerduty").text)
    integration = _integration(db, "prom")
    rotated = client.post(f"/integrations/{integration.id}/rotate", data={"csrf_token": csrf})
    new = _key(rotated.text)
    assert new != old and "The old key no longer works" in rotated.text
    _trigger(client, new, "a", "works")
    refused = {"routing_key": old, "event_action": "trigger", "payload": {}}
    assert client.post("/v2/enqueue", json=refused).status_code >= 400

    client.post(f"/integrations/{integration.id}/enabled", data={"csrf_token": csrf})
    page = client.get(f"/integrations/{integration.id}").text
    assert "disabled" in page and ">Enable</button>" in page
    assert _integration(db, "prom").disabled_at is not None

    # Without ticking the confirmation nothing is deleted.
    unconfirmed = client.post(f"/integrations/{integration.id}/delete", data={"csrf_token": csrf})
    assert "confirm" in unconfirmed.text
    assert client.get(f"/integrations/{integration.id}").status_code == 200
    client.post(
        f"/integrations/{integration.id}/delete", data={"csrf_token": csrf, "confirm": "on"}
    )
    assert client.get(f"/integrations/{integration.id}").status_code == 404


def test_invalid_input_re_renders_the_form_with_the_reason(
    client: TestClient, db: Session, admin: User, web: int
) -> None:
    csrf = browser_login(client, admin.email)
    bad = _create(client, csrf, web, type="webhook", name="zabbix", mapping='{"summary": ')
    assert bad.status_code == 422
    assert "The mapping is not valid JSON" in bad.text
    assert "zabbix" in bad.text  # what the user typed is still there
    wrong = _create(client, csrf, web, type="webhook", name="zabbix", mapping='{"summary": "a[("}')
    assert wrong.status_code == 422 and "invalid JMESPath expression" in wrong.text
    db.rollback()
    assert db.scalars(select(Integration)).first() is None

    _key(_create(client, csrf, web, type="pagerduty").text)
    integration = _integration(db, "prom")
    rules = client.post(
        f"/integrations/{integration.id}/routing", data={"csrf_token": csrf, "rules": "[{"}
    )
    assert rules.status_code == 422 and "routing rules is not valid JSON" in rules.text
    missing = client.post(
        f"/integrations/{integration.id}/routing",
        data={"csrf_token": csrf, "rules": '[{"matchers": [], "service_id": 999}]'},
    )
    assert missing.status_code == 422 and "needs at least one matcher" in missing.text
    window = client.post(
        f"/services/{web}/maintenance", data={"csrf_token": csrf, "minutes": "soon"}
    )
    assert window.status_code == 422 and "minutes must be a number" in window.text


def test_viewer_reads_but_cannot_change(
    client: TestClient, db: Session, admin: User, viewer: User, web: int
) -> None:
    csrf = browser_login(client, admin.email)
    _create(client, csrf, web, type="pagerduty")
    integration = _integration(db, "prom")
    client.cookies.clear()
    csrf = browser_login(client, viewer.email)
    for path in ["/integrations", f"/integrations/{integration.id}", "/events"]:
        page = client.get(path)
        assert page.status_code == 200
        assert "Create integration" not in page.text and "Rotate key" not in page.text
    alerting = client.get(f"/services/{web}/alerting").text
    assert "Start maintenance" not in alerting and "Create rule" not in alerting
    for path, data in [
        ("/integrations", {"service_id": str(web), "name": "x", "type": "pagerduty"}),
        (f"/integrations/{integration.id}/rotate", {}),
        (f"/integrations/{integration.id}/delete", {"confirm": "on"}),
        (f"/services/{web}/maintenance", {"minutes": "30"}),
        (f"/services/{web}/suppression-rules", {"name": "x", "field_0": "summary"}),
    ]:
        assert client.post(path, data={"csrf_token": csrf, **data}).status_code == 403, path
    assert _integration(db, "prom").key_prefix == integration.key_prefix


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, db: Session, admin: User, web: int
) -> None:
    browser_login(client, admin.email)
    response = client.post(
        "/integrations", data={"service_id": str(web), "name": "x", "type": "pagerduty"}
    )
    assert response.status_code == 403
    db.rollback()
    assert db.scalars(select(Integration)).first() is None


def _event_row(page: str, summary: str) -> str:
    """The events table row holding this summary."""
    for row in page.split("<tr>"):
        if summary in row:
            return row
    raise AssertionError(f"{summary!r} not on the page")


def test_events_say_why_and_forms_change_what_later_events_become(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    csrf = browser_login(client, admin.email)
    key = _key(_create(client, csrf, web, type="pagerduty").text)

    # A suppression rule created through the form drops matching alerts.
    created = client.post(
        f"/services/{web}/suppression-rules",
        data={
            "csrf_token": csrf,
            "name": "canary noise",
            "action": "drop",
            "field_0": "summary",
            "op_0": "contains",
            "value_0": "canary",
        },
    )
    assert "Suppression rule created" in created.text
    _trigger(client, key, "canary-1", "canary failed")
    _trigger(client, key, "disk-1", "disk full on db-1")
    _trigger(client, key, "disk-1", "disk full on db-1 again")
    settle(container)
    page = client.get("/events").text
    suppressed = _event_row(page, "canary failed")
    assert "outcome-suppressed" in suppressed and "suppressed by rule &#39;canary noise&#39;" in (
        suppressed
    )
    created_row = _event_row(page, "disk full on db-1<")
    assert "outcome-created_alert" in created_row
    incident_ref = re.search(r"(?:opened|joined) (INC-\d+)", created_row).group(1)  # type: ignore[union-attr]
    assert f'href="/incidents/{incident_ref}"' in created_row
    assert "outcome-deduplicated" in _event_row(page, "disk full on db-1 again")

    # Filters: only the suppressed one; the service's own events page lists all three.
    only = client.get("/events?outcome=suppressed").text
    assert "canary failed" in only and "disk full" not in only
    assert client.get(f"/services/{web}/events").text.count('class="badge outcome ') == 3

    # Disabling the rule through the form: the next canary pages.
    rule_id = re.search(r'id="rule-(\d+)"', client.get(f"/services/{web}/alerting").text)
    client.post(f"/suppression-rules/{rule_id.group(1)}/enabled", data={"csrf_token": csrf})  # type: ignore[union-attr]
    _trigger(client, key, "canary-2", "canary failed twice")
    settle(container)
    assert "outcome-created_alert" in _event_row(client.get("/events").text, "twice")

    # Maintenance started through the form holds the next alert; ending it lets one page.
    started = client.post(
        f"/services/{web}/maintenance",
        data={"csrf_token": csrf, "minutes": "30", "reason": "db upgrade"},
    )
    assert "Maintenance window set" in started.text and "db upgrade" in started.text
    _trigger(client, key, "cpu-1", "cpu hot during upgrade")
    settle(container)
    held = _event_row(client.get("/events").text, "cpu hot during upgrade")
    assert "outcome-maintenance" in held and "maintenance window" in held and "db upgrade" in held
    window_id = re.search(r"/maintenance-windows/(\d+)/end", started.text).group(1)  # type: ignore[union-attr]
    ended = client.post(f"/maintenance-windows/{window_id}/end", data={"csrf_token": csrf})
    assert "Maintenance window ended" in ended.text
    _trigger(client, key, "cpu-2", "cpu hot after upgrade")
    settle(container)
    assert "outcome-created_alert" in _event_row(client.get("/events").text, "after upgrade")

    # The incident's alerts & events page, linked from the incident page.
    assert f"/incidents/{incident_ref}/alerts" in client.get(f"/incidents/{incident_ref}").text
    alerts_page = client.get(f"/incidents/{incident_ref}/alerts").text
    assert "disk-1" in alerts_page and "disk full on db-1 again" in alerts_page
    assert "canary failed" not in alerts_page


def test_event_detail_escapes_the_raw_body_and_says_when_it_expired(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    csrf = browser_login(client, admin.email)
    key = _key(_create(client, csrf, web, type="alertmanager", name="am").text)
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": '{}:{alertname="x"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "XSS", "severity": "critical"},
                "annotations": {"summary": "<script>alert(1)</script> broke"},
                "fingerprint": "f1",
            }
        ],
    }
    assert client.post(f"/hooks/{key}", json=body).status_code == 202
    settle(container)
    db.rollback()
    event = db.scalars(select(Event)).one()
    page = client.get(f"/events/{event.id}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broke" in page
    assert "Raw body" in page and "&#34;alertname&#34;: &#34;XSS&#34;" in page
    assert "outcome-created_alert" in page
    listing = client.get("/events").text
    assert "<script>alert(1)</script>" not in listing

    db.execute(Event.__table__.update().values(raw=None))
    db.commit()
    assert "Raw body expired (retention)" in client.get(f"/events/{event.id}").text
    assert client.get("/events/999999").status_code == 404


def test_alert_settings_form_saves_and_refuses_bad_values(
    client: TestClient, db: Session, admin: User, web: int
) -> None:
    csrf = browser_login(client, admin.email)
    saved = client.post(
        f"/services/{web}/alerting",
        data={
            "csrf_token": csrf,
            "grouping": "fields",
            "group_fields": "labels.alertname, labels.cluster",
            "group_window_minutes": "15",
            "severity_warning": "SEV2",
            "urgency_warning": "high",
        },
    )
    assert "Alert settings saved" in saved.text
    assert 'value="labels.alertname, labels.cluster"' in saved.text
    assert "<option selected>SEV2</option>" in saved.text
    assert 'name="auto_resolve" checked' not in saved.text  # the box was left unticked
    db.rollback()
    stored = db.get(AlertSettings, web)
    assert stored is not None and stored.auto_resolve is False
    assert stored.urgency_map == {"warning": "high"}

    bad = client.post(
        f"/services/{web}/alerting",
        data={"csrf_token": csrf, "grouping": "fields", "group_fields": ""},
    )
    assert bad.status_code == 422 and "grouping by fields needs group_fields" in bad.text
    bad_rule = client.post(
        f"/services/{web}/suppression-rules",
        data={"csrf_token": csrf, "name": "r", "matchers_json": "[{]"},
    )
    assert bad_rule.status_code == 422 and "The matchers is not valid JSON" in bad_rule.text


def test_moving_an_integration_to_another_service(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    other = catalog.create_service(db, name="Payments")
    db.commit()
    csrf = browser_login(client, admin.email)
    key = _key(_create(client, csrf, web, type="pagerduty").text)
    integration = _integration(db, "prom")
    moved = client.post(
        f"/integrations/{integration.id}",
        data={"csrf_token": csrf, "name": "prom", "service_id": str(other.id)},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    _trigger(client, key, "after-move", "Card declines spiking")
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event).where(Event.dedup_key == "after-move")).one()
        assert event.service_id == other.id  # its alerts now belong to Payments
    nowhere = client.post(
        f"/integrations/{integration.id}",
        data={"csrf_token": csrf, "name": "prom", "service_id": "999999"},
    )
    assert nowhere.status_code == 422 and "no service with id 999999" in nowhere.text


def test_editing_a_suppression_rule_changes_what_it_matches(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    rule = alerts.create_suppression_rule(
        db,
        service_id=web,
        name="canary",
        matchers=[{"field": "summary", "op": "contains", "value": "canary"}],
    )
    _, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    csrf = browser_login(client, admin.email)
    page = client.get(f"/services/{web}/alerting")
    assert f'action="/suppression-rules/{rule.id}"' in page.text
    edited = client.post(
        f"/suppression-rules/{rule.id}",
        data={
            "csrf_token": csrf,
            "name": "staging",
            "action": "drop",
            "matchers_json": '[{"field": "source", "op": "equals", "value": "staging"}]',
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    _trigger(client, key, "canary-now-pages", "canary failed")
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "from-staging",
        "payload": {"summary": "x", "source": "staging", "severity": "error"},
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        outcomes = {e.dedup_key: e.outcome for e in s.scalars(select(Event))}
        assert outcomes == {"canary-now-pages": "created_alert", "from-staging": "suppressed"}
    bad = client.post(
        f"/suppression-rules/{rule.id}",
        data={"csrf_token": csrf, "name": "x", "action": "drop", "matchers_json": "[{"},
    )
    assert bad.status_code == 422 and "not valid JSON" in bad.text


def test_events_received_before_a_time(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    _, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    csrf = browser_login(client, admin.email)
    assert csrf
    _trigger(client, key, "late-one", "Arrived now")
    settle(container)
    two_days_ago = (utcnow() - timedelta(days=2)).replace(hour=3, minute=0, second=0)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        event.received_at = two_days_ago  # within retention: still there
        s.commit()
    _trigger(client, key, "recent", "Arrived just now")
    settle(container)
    day = two_days_ago.strftime("%Y-%m-%d")
    night = client.get("/events", params={"before": f"{day}T04:00"})  # the admin's zone: UTC
    assert "late-one" in night.text and "recent" not in night.text
    assert "late-one" not in client.get("/events", params={"before": f"{day}T02:00"}).text
    garbled = client.get("/events", params={"before": "yesterday-ish"})
    assert garbled.status_code == 200 and "is not a date and time" in garbled.text
    assert "recent" in garbled.text


def test_incident_alert_and_event_pages_show_what_the_sender_sent(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    integration, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk-full",
        "payload": {
            "summary": "Disk <b>full</b> on db-1",
            "source": "db-1.example.com",
            "severity": "critical",
            "component": "postgres",
            "custom_details": {
                "mount": "/var/lib/postgresql",
                "usage": {"percent": 97, "<script>alert(1)</script>": "x"},
                "firing": "Labels:\n - alertname = DiskFull",
            },
        },
        "links": [
            {"href": "https://runbooks.example.com/disk", "text": "Runbook"},
            {"href": "javascript:alert(2)", "text": "Sneaky"},
            {"href": "/relative/path", "text": "Relative"},
        ],
        "images": [{"src": "https://charts.example.com/disk.png", "alt": "Disk usage, 24 h"}],
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202
    settle(container)
    browser_login(client, admin.email)

    def check(page: str) -> None:
        assert "Disk &lt;b&gt;full&lt;/b&gt; on db-1" in page  # escaped, not markup
        assert "db-1.example.com" in page and "critical" in page
        assert "/var/lib/postgresql" in page and ">component<" in page and "postgres" in page
        # Nested values as JSON, escaped; multi-line text kept as it is.
        assert "&#34;percent&#34;: 97" in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
        assert "Labels:\n - alertname = DiskFull" in page
        # Only http(s) links are links; images are links to their https src, never inline.
        assert (
            '<a href="https://runbooks.example.com/disk" rel="noopener noreferrer">Runbook</a>'
            in page
        )
        # (The event page also shows the body as received, as text: no link is made of it.)
        assert 'href="javascript:' not in page and "Sneaky</a>" not in page
        assert 'href="/relative/path"' not in page
        assert '<a href="https://charts.example.com/disk.png"' in page
        assert "Disk usage, 24 h" in page and "<img" not in page.split("<main", 1)[-1]

    incident = client.get("/incidents/INC-1")
    assert incident.status_code == 200
    check(incident.text)
    assert 'id="alerts"' in incident.text
    alerts_page = client.get("/incidents/INC-1/alerts")
    check(alerts_page.text)
    alert_id = db.scalars(select(Event.alert_id).where(Event.alert_id.is_not(None))).first()
    alert_page = client.get(f"/alerts/{alert_id}")
    assert alert_page.status_code == 200
    check(alert_page.text)
    event_id = db.scalars(select(Event.id)).one()
    event_page = client.get(f"/events/{event_id}")
    check(event_page.text)
    assert client.get("/alerts/999999").status_code == 404


def test_change_event_page_shows_the_change(
    client: TestClient, db: Session, admin: User, web: int, container: Container
) -> None:
    _, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    change = {
        "routing_key": key,
        "payload": {
            "summary": "Deployed checkout v42",
            "source": "ci-runner-7",
            "timestamp": "2026-11-20T10:15:00Z",
            "custom_details": {"build": 42, "commit": "9f1c2e"},
        },
        "links": [{"href": "https://ci.example.com/builds/42", "text": "Build 42"}],
    }
    response = client.post("/v2/change/enqueue", json=change)
    assert response.status_code == 202
    settle(container)
    browser_login(client, admin.email)
    event_id = db.scalars(select(Event.id)).one()
    page = client.get(f"/events/{event_id}").text
    assert "The change" in page and "Deployed checkout v42" in page
    assert "ci-runner-7" in page and ">build<" in page and "9f1c2e" in page
    assert "2026-11-20 10:15" in page
    assert (
        '<a href="https://ci.example.com/builds/42" rel="noopener noreferrer">Build 42</a>' in page
    )
    assert response.json()["id"] in page  # the id the sender was given


# --- the alert list: triage --------------------------------------------------------------


def test_the_alert_list_triages_open_alerts_with_filters_and_actions(
    db: Session, viewer: User, admin: User, web: int, client: TestClient, container: Container
) -> None:
    csrf = browser_login(client, admin.email)
    storage = catalog.create_service(db, name="Storage")
    db.commit()
    key = _key(_create(client, csrf, web, type="pagerduty").text)
    other = _key(_create(client, csrf, storage.id, type="pagerduty", name="nas").text)
    _trigger(client, key, "cpu", "CPU <b>high</b> on web-1")
    _trigger(client, key, "cpu", "CPU <b>high</b> on web-1")
    _trigger(client, key, "mem", "Memory low", severity="warning")
    _trigger(client, other, "disk", "Disk full")
    settle(container)

    page = client.get("/alerts")
    assert page.status_code == 200
    assert 'href="/alerts" aria-current="page"' in page.text  # the main menu's Alerts
    assert "CPU &lt;b&gt;high&lt;/b&gt; on web-1" in page.text and "<b>high" not in page.text
    assert "3 alerts" in page.text
    assert 'href="/integrations"' in page.text  # integrations stay a click away
    rows = re.findall(r'<tr class="alert-row alert-(\w+)" id="alert-(\d+)"', page.text)
    assert [status for status, _ in rows] == ["triggered"] * 3
    cpu_id = db.scalars(select(Alert.id).where(Alert.dedup_key == "cpu")).one()
    assert f'href="/events?alert_id={cpu_id}"' in page.text  # the count opens its events
    assert "INC-1" in page.text

    filtered = client.get("/alerts", params={"service_id": storage.id}).text
    assert "Disk full" in filtered and "Memory low" not in filtered
    assert "Memory low" in client.get("/alerts", params={"severity": "warning"}).text
    assert "Memory low" not in client.get("/alerts", params={"severity": "critical"}).text
    searched = client.get("/alerts", params={"q": "WEB-1"}).text
    assert "1 alert<" in searched and "Disk full" not in searched
    assert "No alerts match" in client.get("/alerts", params={"q": "nothing like it"}).text
    # Nonsense in the query string is ignored, not a 500.
    odd = client.get("/alerts", params={"status": "x", "page": "-3", "service_id": "9" * 30})
    assert odd.status_code == 200 and "3 alerts" in odd.text

    # Acknowledge, then resolve, back to the filtered list.
    back = f"/alerts?service_id={web}"
    done = client.post(f"/alerts/{cpu_id}/acknowledge", data={"csrf_token": csrf, "back": back})
    assert done.url.path == "/alerts" and done.url.params["service_id"] == str(web)
    assert f"Alert {cpu_id} acknowledged." in done.text
    rows = re.findall(r'<tr class="alert-row alert-(\w+)"', done.text)
    assert rows == ["triggered", "acknowledged"]  # open ones, triggered first
    again = client.post(f"/alerts/{cpu_id}/acknowledge", data={"csrf_token": csrf, "back": back})
    assert "only a triggered one" in again.text
    mem_id = db.scalars(select(Alert.id).where(Alert.dedup_key == "mem")).one()
    client.post(f"/alerts/{mem_id}/resolve", data={"csrf_token": csrf})
    resolved = client.post(f"/alerts/{cpu_id}/resolve", data={"csrf_token": csrf, "back": back})
    assert "It was the last open alert of INC-1, which is resolved." in resolved.text
    assert "Disk full" in client.get("/alerts").text
    assert "CPU &lt;b&gt;high" in client.get("/alerts", params={"status": "resolved"}).text
    # Never back to another site.
    away = client.post(
        f"/alerts/{cpu_id}/resolve",
        data={"csrf_token": csrf, "back": "//evil.example.com/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/alerts"
    missing = client.post(f"/alerts/{2**70}/resolve", data={"csrf_token": csrf})
    assert missing.status_code == 200 and f"no alert with id {2**70}" in missing.text

    # A viewer reads the list without the buttons and cannot act.
    reader = TestClient(client.app)
    token = browser_login(reader, viewer.email)
    listed = reader.get("/alerts", params={"status": "all"}).text
    assert "Disk full" in listed and "Acknowledge alert" not in listed
    denied = reader.post(f"/alerts/{cpu_id}/resolve", data={"csrf_token": token})
    assert denied.status_code == 403


def test_the_alert_list_pages(
    db: Session, admin: User, web: int, client: TestClient, container: Container
) -> None:
    csrf = browser_login(client, admin.email)
    key = _key(_create(client, csrf, web, type="pagerduty").text)
    for n in range(53):
        _trigger(client, key, f"k{n:02d}", f"alert number {n:02d}")
    settle(container)
    first = client.get("/alerts").text
    assert "53 alerts" in first and "page 1 of 2" in first
    assert len(re.findall(r'class="alert-row', first)) == 50
    assert 'href="/alerts?page=2"' in first
    second = client.get("/alerts?page=2").text
    assert len(re.findall(r'class="alert-row', second)) == 3
    assert "alert number 00" in second and 'href="/alerts?page=1"' in second


def test_event_pages_link_a_restricted_incident_only_for_those_who_may_see_it(
    client: TestClient,
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    web: int,
) -> None:
    integration, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    _trigger(client, key, "leak", "Vault audit anomaly")
    settle(container)
    incident = queries.get_incident(db, "INC-1", viewer=admin)
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    incidents.edit(db, incident, {"title": "Root token stolen"}, by=admin)
    db.commit()
    event_id = db.scalars(select(Event.id)).one()
    pages = ["/events", f"/events/{event_id}", f"/integrations/{integration.id}"]
    pages += [f"/services/{web}/events"]
    for who, sees in ((responder, False), (admin, True)):
        client.cookies.clear()
        browser_login(client, who.email)
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, path
            assert ('href="/incidents/INC-1"' in page.text) is sees, path
            assert ("opened INC-1" in page.text) is sees, path
            assert ("opened a private incident" in page.text) is not sees, path
            # The event's page names the incident by its title, for those who may see it.
            if path == f"/events/{event_id}":
                assert ("Root token stolen" in page.text) is sees
            else:
                assert "Root token stolen" not in page.text


def test_the_alert_list_and_page_name_a_restricted_incident_only_for_those_who_may_see_it(
    client: TestClient,
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    web: int,
) -> None:
    _, key = alerts.create_integration(db, service_id=web, name="pd")
    db.commit()
    _trigger(client, key, "leak", "Vault audit anomaly")
    settle(container)
    incident = queries.get_incident(db, "INC-1", viewer=admin)
    incidents.edit(db, incident, {"restricted": True, "title": "Root token stolen"}, by=admin)
    db.commit()
    alert_id = db.scalars(select(Alert.id)).one()
    for who, sees in ((responder, False), (admin, True)):
        client.cookies.clear()
        browser_login(client, who.email)
        for path in ("/alerts", f"/alerts/{alert_id}"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert ('href="/incidents/INC-1"' in page.text) is sees, path
            assert ("a private incident" in page.text) is not sees, path
            assert "Root token stolen" not in page.text or sees, path
        token = {"Authorization": f"Bearer {token_for(db, who)}"}
        listed = client.get("/api/v1/alerts", headers=token).json()["items"]
        one = client.get(f"/api/v1/alerts/{alert_id}", headers=token).json()
        expected = incident.id if sees else None
        assert [a["incident_id"] for a in listed] == [expected]
        assert one["incident_id"] == expected
