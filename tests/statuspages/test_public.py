"""The public page under /status/{slug}/: Statuspage's JSON shapes, feeds, HTTP caching and
headers, private pages, and serving from memory when the database is gone."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import feedparser  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, BACKEND, browser_login
from tests.statuspages.conftest import Acme, declare, queued, serve, work
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.statuspages import maintenance, publish, service
from tocsin.statuspages.refresh import RENDER_JOB

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
    "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
}  # fmt: skip
INCIDENT_KEYS = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
    "shortlink", "started_at", "page_id", "incident_updates", "components",
}  # fmt: skip
UPDATE_KEYS = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
ENDPOINTS = [
    "summary.json", "status.json", "components.json", "incidents.json",
    "incidents/unresolved.json", "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json",
]  # fmt: skip


def _busy_page(db: Session, admin: User, acme: Acme) -> None:
    """An ongoing incident, a resolved one, an active and an upcoming maintenance."""
    ongoing = declare(db, admin, "Ongoing")
    publish.publish(
        db,
        publish.check(db, acme.page, ongoing, phase="identified", body="Fix in progress.",
                      components={acme.api.id: "partial_outage"}),
        by=admin,
    )  # fmt: skip
    old = declare(db, admin, "Old")
    for phase in ("investigating", "resolved"):
        draft = publish.check(db, acme.page, old, phase=phase, body=f"{phase} text",
                              components={acme.checkout.id: "degraded_performance"})  # fmt: skip
        publish.publish(db, draft, by=admin)
    now = utcnow()
    active = maintenance.schedule(
        db, acme.page,
        {"name": "Now", "scheduled_for": now - timedelta(minutes=5),
         "scheduled_until": now + timedelta(hours=1), "component_ids": [acme.payments.id]},
        by=admin,
    )  # fmt: skip
    maintenance.transition(db, active, "in_progress", by=admin)
    maintenance.schedule(
        db, acme.page,
        {"name": "Later", "scheduled_for": now + timedelta(days=2),
         "scheduled_until": now + timedelta(days=2, hours=1), "component_ids": []},
        by=admin,
    )  # fmt: skip
    db.commit()


def _check_timestamps(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") or key in ("scheduled_for", "scheduled_until"):
                assert item is None or ISO.match(item), (key, item)
            else:
                _check_timestamps(item)
    elif isinstance(value, list):
        for item in value:
            _check_timestamps(item)


def test_the_json_api_has_statuspages_shapes(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient
) -> None:
    _busy_page(db, admin, acme)
    serve(db, container, client)
    docs = {}
    for name in ENDPOINTS:
        response = client.get(f"/status/acme/api/v2/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["access-control-allow-origin"] == "*"
        docs[name] = response.json()
        assert set(docs[name]["page"]) == PAGE_KEYS
        assert docs[name]["page"] == {
            "id": acme.page.public_id,
            "name": "Acme Status",
            "url": "http://127.0.0.1:8080/status/acme",
            "time_zone": "UTC",
            "updated_at": docs[name]["page"]["updated_at"],
        }
        _check_timestamps(docs[name])
    summary = docs["summary.json"]
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert summary["status"] == {"indicator": "minor", "description": "Partial System Outage"}
    assert docs["status.json"]["status"] == summary["status"]
    components = docs["components.json"]["components"]
    assert [c["name"] for c in components] == ["Shop", "Checkout", "Payments", "API"]
    assert [c["position"] for c in components] == [1, 2, 3, 4]
    shop, checkout = components[0], components[1]
    assert set(checkout) == COMPONENT_KEYS
    assert shop["group"] is True and shop["components"] == [checkout["id"], components[2]["id"]]
    assert checkout["group_id"] == shop["id"] and checkout["page_id"] == acme.page.public_id
    assert components[2]["status"] == "under_maintenance"
    assert all(isinstance(c["id"], str) for c in components)

    [ongoing] = summary["incidents"]
    assert set(ongoing) == INCIDENT_KEYS
    assert (ongoing["name"], ongoing["status"], ongoing["impact"]) == (
        "Ongoing",
        "identified",
        "minor",
    )
    [update] = ongoing["incident_updates"]
    assert set(update) == UPDATE_KEYS
    assert update["affected_components"] == [
        {"code": acme.api.public_id, "name": "API", "old_status": "operational",
         "new_status": "partial_outage"}
    ]  # fmt: skip
    assert ongoing["shortlink"] == f"http://127.0.0.1:8080/status/acme/incidents/{ongoing['id']}"
    assert docs["incidents/unresolved.json"]["incidents"] == summary["incidents"]
    # Newest first: "Old" was declared (and started) after "Ongoing".
    assert [i["name"] for i in docs["incidents.json"]["incidents"]] == ["Old", "Ongoing"]
    old = docs["incidents.json"]["incidents"][0]
    assert [u["status"] for u in old["incident_updates"]] == ["resolved", "investigating"]
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Now", "Later"]
    active = docs["scheduled-maintenances/active.json"]["scheduled_maintenances"]
    upcoming = docs["scheduled-maintenances/upcoming.json"]["scheduled_maintenances"]
    assert [(m["name"], m["status"], m["impact"]) for m in active] == [
        ("Now", "in_progress", "maintenance")
    ]
    assert [(m["name"], m["status"]) for m in upcoming] == [("Later", "scheduled")]
    assert {"scheduled_for", "scheduled_until", "scheduled_auto_in_progress"} <= set(upcoming[0])
    everything = docs["scheduled-maintenances.json"]["scheduled_maintenances"]
    assert [m["name"] for m in everything] == ["Later", "Now"]


@pytest.mark.parametrize(
    ("statuses", "indicator", "description"),
    [
        ({}, "none", "All Systems Operational"),
        ({"api": "under_maintenance"}, "maintenance", "Service Under Maintenance"),
        ({"api": "degraded_performance"}, "minor", "Degraded System Performance"),
        (
            {"api": "partial_outage", "checkout": "degraded_performance"},
            "minor",
            "Partial System Outage",
        ),
        ({"api": "major_outage", "checkout": "partial_outage"}, "major", "Major System Outage"),
    ],
)
def test_the_overall_indicator_follows_the_worst_component(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient,
    statuses: dict[str, str], indicator: str, description: str,
) -> None:  # fmt: skip
    for name, status in statuses.items():
        service.set_component_status(db, getattr(acme, name), status, by=admin)
    serve(db, container, client)
    status = client.get("/status/acme/api/v2/status.json").json()["status"]
    assert status == {"indicator": indicator, "description": description}
    page = client.get("/status/acme/")
    assert description in page.text


def test_feeds_list_incidents_and_maintenance(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient
) -> None:
    _busy_page(db, admin, acme)
    serve(db, container, client)
    for name in ("history.rss", "history.atom"):
        response = client.get(f"/status/acme/{name}")
        assert response.status_code == 200
        feed = feedparser.parse(response.content)
        assert not feed.bozo, feed.get("bozo_exception")
        titles = [e.title for e in feed.entries]
        assert set(titles) == {"Ongoing", "Old", "Now", "Later"}
        old = next(e for e in feed.entries if e.title == "Old")
        assert old.link.startswith("http://127.0.0.1:8080/status/acme/incidents/")
        assert "resolved text" in (old.get("content", [{}])[0].get("value") or old.summary)


def test_caching_headers_and_conditional_requests(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient
) -> None:
    serve(db, container, client)
    first = client.get("/status/acme/")
    assert first.status_code == 200
    etag = first.headers["etag"]
    csp = first.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["x-frame-options"] == "DENY"
    assert "max-age" in first.headers["cache-control"]
    again = client.get("/status/acme/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    head = client.head("/status/acme/api/v2/summary.json")
    assert head.status_code == 200 and head.content == b""
    assert client.get("/status/acme").status_code == 200  # redirected to the slash
    assert client.get("/status/acme", follow_redirects=False).status_code == 308
    assert client.get("/status/acme/history", follow_redirects=False).headers["location"] == (
        "/status/acme/history/"
    )
    css = client.get("/status/acme/assets/status.css")
    assert css.headers["content-type"].startswith("text/css") and "--brand" in css.text
    gz = client.get("/status/acme/", headers={"Accept-Encoding": "gzip"})
    assert gz.headers.get("content-encoding") == "gzip" and gz.text == first.text
    # A change makes a new render with a new tag.
    service.set_component_status(db, acme.api, "major_outage", by=admin)
    serve(db, container, client)
    changed = client.get("/status/acme/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Major System Outage" in changed.text


def test_the_subscribe_link_points_at_a_route_the_app_serves(
    db: Session, acme: Acme, container: Container, client: TestClient
) -> None:
    serve(db, container, client)
    page = client.get("/status/acme/").text
    assert 'href="http://127.0.0.1:8080/status/acme/subscribe">Subscribe to updates</a>' in page
    # Not one of the page's files: FastAPI's routes answer it (the subscribers package).
    assert client.get("/status/acme/subscribe").status_code in (200, 404)
    assert client.get("/status/nope/").status_code == 404
    service.update_page(db, acme.page, {"allow_subscribers": False})
    serve(db, container, client)
    assert "Subscribe to updates" not in client.get("/status/acme/").text


def test_changes_are_rendered_once(
    db: Session, admin: User, acme: Acme, container: Container
) -> None:
    work(db, container)
    for status in ("degraded_performance", "partial_outage", "major_outage"):
        service.set_component_status(db, acme.api, status, by=admin)
    service.update_page(db, acme.page, {"description": "Hello"})
    db.commit()
    assert len(queued(db, RENDER_JOB)) == 1, "one render for several changes"
    work(db, container)
    db.refresh(acme.page)
    assert acme.page.rendered_version == acme.page.content_version


def _break_database(settings: Settings, container: Container) -> None:
    """Make the database unreachable for real: every new connection fails."""
    container.engine.dispose()
    if BACKEND == "postgres":
        url = make_url(settings.database_url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": url.database},
            )  # fmt: skip
        admin.dispose()
    else:
        path = settings.sqlite_path()
        assert path is not None
        shutil.move(path, path.with_suffix(".away"))
        path.write_bytes(b"this is not a database " * 100)


def _repair_database(settings: Settings, container: Container) -> None:
    container.engine.dispose()
    if BACKEND == "postgres":
        url = make_url(settings.database_url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    else:
        path = settings.sqlite_path()
        assert path is not None
        shutil.move(path.with_suffix(".away"), path)


def test_the_page_answers_while_the_database_is_down(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient,
    settings: Settings,
) -> None:  # fmt: skip
    service.set_component_status(db, acme.api, "partial_outage", by=admin)
    serve(db, container, client)
    before = client.get("/status/acme/")
    summary = client.get("/status/acme/api/v2/summary.json").json()
    db.close()
    _break_database(settings, container)
    try:
        cache = client.app.state.statuspages  # type: ignore[attr-defined]
        assert cache.refresh() is False, "the database really is gone"
        assert client.get("/readyz").status_code == 503
        during = client.get("/status/acme/")
        assert during.status_code == 200
        assert during.text == before.text
        assert client.get("/status/acme/api/v2/summary.json").json() == summary
    finally:
        _repair_database(settings, container)
    assert client.app.state.statuspages.refresh() is True  # type: ignore[attr-defined]


def test_private_pages_need_a_login_or_the_secret_link(
    db: Session, admin: User, viewer: User, acme: Acme, container: Container, client: TestClient
) -> None:
    service.update_page(db, acme.page, {"visibility": "private"})
    token = service.new_secret_link(db, acme.page)
    serve(db, container, client)
    for path in ("", "api/v2/summary.json", "history.rss", "assets/status.css"):
        response = client.get(f"/status/acme/{path}")
        assert response.status_code == 401, path
        assert "This status page is private" in response.text
    assert client.get("/status/acme/access/tsp_wrong").status_code == 404
    opened = client.get(f"/status/acme/access/{token}", follow_redirects=False)
    assert opened.status_code == 303
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/status/acme/" in cookie and token not in cookie
    page = client.get("/status/acme/")
    assert page.status_code == 200 and 'name="robots" content="noindex' in page.text
    assert page.headers["cache-control"].startswith("private")
    assert (
        "access-control-allow-origin" not in client.get("/status/acme/api/v2/status.json").headers
    )
    # A new link ends what the old one gave.
    service.new_secret_link(db, acme.page)
    serve(db, container, client)
    assert client.get("/status/acme/").status_code == 401
    # A Tocsin login reads it too.
    client.cookies.clear()
    browser_login(client, viewer.email, ADMIN_PASSWORD)
    assert client.get("/status/acme/").status_code == 200


def test_the_hourly_job_renders_every_page_again(
    db: Session, admin: User, acme: Acme, container: Container
) -> None:
    from tocsin.statuspages.render import rerender_all

    work(db, container)
    db.refresh(acme.page)
    first = acme.page.rendered_at
    assert rerender_all(db) == 1
    work(db, container)
    db.refresh(acme.page)
    assert acme.page.rendered_at is not None and first is not None
    assert acme.page.rendered_at > first, "rendered again although nothing changed"
