"""Managing pages: the REST API, the editor's forms, roles, look and logo checks."""

from __future__ import annotations

import io
import struct
import zlib

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.statuspages.conftest import Acme, declare, serve
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.statuspages.models import ComponentChange, StatusPage


def png(width: int = 2, height: int = 1) -> bytes:
    """A real, tiny PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def test_the_api_builds_a_page(
    api: TestClient, db: Session, container: Container, client: TestClient
) -> None:
    created = api.post(
        "/api/v1/status-pages",
        json={"name": "Widgets Status", "time_zone": "Europe/Paris", "brand_color": "#ffd400"},
    )
    assert created.status_code == 201, created.text
    page = created.json()
    assert page["slug"] == "widgets-status" and page["visibility"] == "public"
    base = f"/api/v1/status-pages/{page['slug']}"
    group = api.post(f"{base}/groups", json={"name": "Core"}).json()
    web = api.post(f"{base}/components", json={"name": "Website", "group_id": group["id"]})
    assert web.status_code == 201
    api_component = api.post(f"{base}/components", json={"name": "API"}).json()
    changed = api.patch(
        f"{base}/components/{api_component['id']}",
        json={"status": "partial_outage", "reason": "elevated errors"},
    )
    assert changed.json()["status"] == "partial_outage"
    changes = api.get(f"{base}/component-changes").json()
    assert [(c["new_status"], c["source"], c["reason"]) for c in changes] == [
        ("partial_outage", "manual", "elevated errors")
    ]
    got = api.get(base).json()
    assert [g["name"] for g in got["groups"]] == ["Core"]
    assert [c["name"] for c in got["components"]] == ["Website", "API"]
    assert api.put(f"{base}/logo", content=png(), headers={"Content-Type": "image/png"}).json()[
        "has_logo"
    ]
    serve(db, container, client)
    logo = client.get("/status/widgets-status/assets/logo.png")
    assert logo.status_code == 200 and logo.content == png()
    css = client.get("/status/widgets-status/assets/status.css").text
    assert "--brand: #ffd400; --brand-text: #111827" in css, "dark text on a light brand colour"
    html = client.get("/status/widgets-status/").text
    assert 'src="./assets/logo.png" alt="Widgets Status"' in html
    assert api.delete(f"{base}/components/{api_component['id']}").status_code == 204
    assert api.delete(f"{base}/groups/{group['id']}").status_code == 204
    assert [c["group_id"] for c in api.get(f"{base}/components").json()] == [None]


def test_bad_input_is_refused_clearly(api: TestClient, acme: Acme) -> None:
    base = f"/api/v1/status-pages/{acme.page.id}"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    refused = api.put(f"{base}/logo", content=svg, headers={"Content-Type": "image/svg+xml"})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "status": 422,
        "message": "the logo must be a PNG, JPEG, WebP or GIF image",
        "field": "logo",
    }
    big = png() + b"\x00" * (300 * 1024)
    assert api.put(f"{base}/logo", content=big).status_code == 422
    pale = api.patch(base, json={"accent_color": "#ffff00"})
    assert pale.status_code == 422 and "too light to read" in pale.json()["error"]["message"]
    assert api.patch(base, json={"brand_color": "red"}).json()["error"]["field"] == "brand_color"
    assert api.patch(base, json={"slug": "Not A Slug"}).json()["error"]["field"] == "slug"
    assert api.patch(base, json={"time_zone": "Mars/Olympus"}).status_code == 422
    again = api.post("/api/v1/status-pages", json={"name": "Acme", "slug": "acme"})
    assert again.status_code == 409
    other = api.post(f"{base}/components", json={"name": "X", "group_id": 999}).json()["error"]
    assert other["field"] == "group_id"
    assert api.get("/api/v1/status-pages/nope").status_code == 404


def test_roles(client: TestClient, db: Session, acme: Acme, responder: User, viewer: User) -> None:
    base = f"/api/v1/status-pages/{acme.page.id}"
    as_viewer, as_responder = api_as(client, db, viewer), api_as(client, db, responder)
    assert client.get(base, headers=as_viewer).status_code == 200
    assert client.patch(base, json={"name": "x"}, headers=as_responder).status_code == 403
    component = f"{base}/components/{acme.api.id}"
    assert (
        client.patch(component, json={"status": "major_outage"}, headers=as_viewer).status_code
        == 403
    )
    ok = client.patch(component, json={"status": "major_outage"}, headers=as_responder)
    assert ok.status_code == 200
    renamed = client.patch(component, json={"name": "Renamed"}, headers=as_responder)
    assert renamed.status_code == 403


def test_the_api_publishes_and_schedules(
    api: TestClient, db: Session, admin: User, acme: Acme
) -> None:
    incident = declare(db, admin, "Errors")
    base = f"/api/v1/status-pages/{acme.page.slug}"
    published = api.post(
        f"{base}/incidents",
        json={"incident": incident.reference, "status": "identified", "body": "Found it.",
              "components": {str(acme.api.id): "partial_outage"}},
    )  # fmt: skip
    assert published.status_code == 201, published.text
    assert published.json()["affected_components"][0]["new_status"] == "partial_outage"
    listed = api.get(f"{base}/incidents").json()
    assert [(i["incident"], i["status"], i["shown"]) for i in listed] == [
        (incident.reference, "identified", True)
    ]
    maint = api.post(
        f"{base}/maintenances",
        json={"name": "Upgrade", "scheduled_for": "2099-01-01T10:00:00+00:00",
              "scheduled_until": "2099-01-01T11:00:00+00:00", "component_ids": [acme.api.id],
              "remind_minutes": 60},
    )  # fmt: skip
    assert maint.status_code == 201, maint.text
    mid = maint.json()["id"]
    moved = api.patch(f"{base}/maintenances/{mid}", json={"name": "Bigger upgrade"})
    assert moved.json()["name"] == "Bigger upgrade"
    update = api.post(f"{base}/maintenances/{mid}/updates", json={"status": "in_progress"})
    assert update.status_code == 201
    naive = api.post(
        f"{base}/maintenances",
        json={"name": "x", "scheduled_for": "2099-01-01T10:00:00",
              "scheduled_until": "2099-01-01T11:00:00"},
    )  # fmt: skip
    assert naive.status_code == 422


def test_the_editor_pages_and_forms(
    client: TestClient, db: Session, admin: User, acme: Acme, container: Container
) -> None:
    csrf = browser_login(client, admin.email)
    listing = client.get("/status-pages")
    assert listing.status_code == 200 and "Acme Status" in listing.text
    editor = client.get(f"/status-pages/{acme.page.id}")
    assert editor.status_code == 200
    for text in ("Component status", "Components and groups", "Secret link", "Look"):
        assert text in editor.text
    response = client.post(
        f"/status-pages/{acme.page.id}/components/{acme.api.id}/status",
        data={"csrf_token": csrf, "status": "degraded_performance", "reason": "slow queries"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    db.rollback()
    change = db.scalars(select(ComponentChange)).one()
    assert (change.new_status, change.reason, change.actor_id) == (
        "degraded_performance", "slow queries", admin.id,
    )  # fmt: skip
    # Order: the API moves above the Shop group.
    client.post(
        f"/status-pages/{acme.page.id}/components/{acme.api.id}",
        data={"csrf_token": csrf, "action": "up"},
    )
    preview = client.get(f"/status-pages/{acme.page.id}/preview/")
    assert preview.status_code == 200
    assert preview.text.index(">API<") < preview.text.index(">Shop<")
    assert "Degraded System Performance" in preview.text
    assert client.get(f"/status-pages/{acme.page.id}/preview/assets/status.css").status_code == 200
    look = client.post(
        f"/status-pages/{acme.page.id}/look",
        data={"csrf_token": csrf, "brand_color": "#123456", "accent_color": "#0b6bcb"},
        files={"logo": ("logo.png", io.BytesIO(png()), "image/png")},
        follow_redirects=False,
    )
    assert look.status_code == 303
    db.rollback()
    page = db.get(StatusPage, acme.page.id)
    assert page is not None and page.logo == png() and page.brand_color == "#123456"
    link = client.post(
        f"/status-pages/{acme.page.id}/secret-link",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    shown = client.get(link.headers["location"]).text
    assert "/status/acme/access/tsp_" in shown and "shown once" in shown
    created = client.post(
        "/status-pages", data={"csrf_token": csrf, "name": "Second page"}, follow_redirects=False
    )
    assert created.status_code == 303 and "/status-pages/" in created.headers["location"]
