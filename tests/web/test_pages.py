"""The server-rendered pages, driven through real form posts."""

from __future__ import annotations

import html
import re

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole, IncidentType, Severity

# CI runs the SQLite and PostgreSQL suites at once on two cores: a 10 s read timed out there
# once, on a request that takes well under a second on a quiet machine.
LOADED_MACHINE_TIMEOUT = 30


def test_login_wrong_password_and_redirects(client: TestClient, admin: User) -> None:
    assert (
        client.get("/incidents", follow_redirects=False)
        .headers["location"]
        .startswith("/login?next=/incidents")
    )
    bad = client.post("/login", data={"email": admin.email, "password": "nope-nope"})
    assert bad.status_code == 400 and "wrong email or password" in bad.text
    assert f'value="{admin.email}"' in bad.text
    ok = client.post(
        "/login",
        data={"email": admin.email, "password": ADMIN_PASSWORD, "next": "//evil.example.com"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/incidents"
    assert "httponly" in ok.headers["set-cookie"].lower()


def test_declare_and_run_an_incident_through_forms(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    token = browser_login(client, admin.email)
    outage = db.scalars(select(IncidentType).where(IncidentType.name == "Service outage")).one()
    form = client.get(f"/incidents/new?type_id={outage.id}")
    assert "Peak error rate" in form.text  # the type brings its fields
    created = client.post(
        "/incidents",
        data={
            "csrf_token": token,
            "title": "Checkout down",
            "type_id": str(outage.id),
            "cf_regions": ["EU", "US"],
            "cf_detection_source": "Customer report",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"] == "/incidents/INC-1"

    def post(path: str, **data: str) -> str:
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 200, response.text
        return response.text

    page = post("/incidents/INC-1/status", status="acknowledged")
    assert "acknowledged" in page and "EU, US" in page
    commander = db.scalars(
        select(IncidentRole).where(IncidentRole.slug == "incident_commander")
    ).one()
    page = post("/incidents/INC-1/roles", role_id=str(commander.id), user_id=str(responder.id))
    assert "assigned Rita Responder as Incident Commander" in page
    template = client.get("/incidents/INC-1/template?phase=identified").json()["body"]
    page = post(
        "/incidents/INC-1/updates", phase="identified", body=template, visibility="external"
    )
    assert "Update posted." in page and "badge status-identified" in page
    page = post(
        "/incidents/INC-1/action-items", title="Add canary", kind="follow_up", due_date="2020-01-01"
    )
    assert "Add canary" in page and "overdue" in page
    page = post("/incidents/INC-1/status", status="resolved")
    page = post("/incidents/INC-1/status", status="closed")
    assert "badge status-closed" in page and "Reopen" in page
    # An invalid move shows the reason and changes nothing.
    page = post("/incidents/INC-1/status", status="monitoring")
    assert "reopen it first" in page


def test_declare_form_chooses_the_urgency_and_severities_set_its_default(
    client: TestClient, db: Session, admin: User
) -> None:
    token = browser_login(client, admin.email)
    sev3 = db.scalars(select(Severity).where(Severity.name == "SEV3")).one()
    form = client.get("/incidents/new").text
    assert 'name="urgency" value="none"' in form and "SEV4 low" in form

    def declare(**data: str) -> str:
        response = client.post("/incidents", data={"csrf_token": token, "title": "x", **data})
        assert response.status_code == 200, response.text
        return response.text

    page = declare(severity_id=str(sev3.id))
    assert '<dd id="urgency">high' in page
    page = declare(severity_id=str(sev3.id), urgency="none")
    assert "(declared without paging)" in page and "Declared without paging by" in page
    saved = client.post(
        f"/settings/severities/{sev3.id}",
        data={"csrf_token": token, "name": "SEV3", "label": "Moderate", "rank": "3",
              "default_urgency": "low"},
    )  # fmt: skip
    assert "Severity saved." in saved.text and "low urgency" in saved.text
    assert '<dd id="urgency">low' in declare(severity_id=str(sev3.id))
    assert '<dd id="urgency">high' in declare(severity_id=str(sev3.id), urgency="high")


def test_missing_required_field_rerenders_with_the_message(
    client: TestClient, db: Session, admin: User
) -> None:
    token = browser_login(client, admin.email)
    security = db.scalars(
        select(IncidentType).where(IncidentType.name == "Security incident")
    ).one()
    response = client.post(
        "/incidents", data={"csrf_token": token, "title": "Leaked key", "type_id": str(security.id)}
    )
    assert response.status_code == 422
    assert "Security lead" in response.text and 'value="Leaked key"' in response.text
    assert client.get("/api/v1/incidents", headers={}).status_code == 200
    assert "No incidents match" in client.get("/incidents").text


def test_csrf_and_roles_are_enforced(client: TestClient, admin: User, viewer: User) -> None:
    browser_login(client, admin.email)
    assert client.post("/incidents", data={"title": "x"}).status_code == 403
    assert client.post("/incidents", data={"title": "x", "csrf_token": "forged"}).status_code == 403
    other = TestClient(client.app)
    token = browser_login(other, viewer.email)
    denied = other.post("/incidents", data={"title": "x", "csrf_token": token})
    assert denied.status_code == 403 and "responder" in denied.text


def test_unknown_pages_are_html_404s(client: TestClient, admin: User) -> None:
    browser_login(client, admin.email)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "<html" in missing.text and "Not found" in missing.text
    assert client.get("/incidents/INC-77").status_code == 404


def test_numbers_in_addresses_and_forms_take_ascii_digits_only(
    client: TestClient, db: Session, admin: User
) -> None:
    """Not str.isdigit(): "²" passes it and fails int(); "٣" passes both (int reads 3)."""
    csrf = browser_login(client, admin.email)
    client.post("/incidents", data={"csrf_token": csrf, "title": "Checkout is down"})
    for odd in ("²", "٣", "9" * 5000):
        # A number that only narrows or pages a list is ignored.
        for path in (
            f"/incidents?page={odd}",
            f"/incidents/new?type_id={odd}",
            f"/integrations?service_id={odd}",
            f"/events?before_id={odd}&integration_id={odd}",
        ):
            assert client.get(path).status_code in (200, 404), path
        assert client.get(f"/incidents?severity={odd}").status_code == 200
        # The API's filter by id or name finds no such severity (a 404 naming the field), or
        # is too long to be a name.
        unknown = client.get(f"/api/v1/incidents?severity={odd}")
        assert unknown.status_code == (422 if len(odd) > 120 else 404), unknown.text
        assert unknown.json()["error"]["field"].startswith("severity")
        # A number that names something finds nothing.
        assert client.get(f"/incidents/INC-{odd}").status_code == 404
        assert client.get(f"/api/v1/status-pages/{odd}").status_code in (404, 422)
        # A form field that must be a number is refused, naming it.
        refused = client.post(
            f"/users/{admin.id}/rules",
            data={"csrf_token": csrf, "urgency": "high", "contact_method_id": odd},
        )
        assert "contact_method_id must be a number" in refused.text


def test_user_text_is_escaped(client: TestClient, admin: User) -> None:
    token = browser_login(client, admin.email)
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    client.post(
        "/incidents",
        data={"csrf_token": token, "title": payload, "description": "[x](javascript:alert(3))"},
    )
    client.post("/incidents/INC-1/notes", data={"csrf_token": token, "body": payload})
    page = client.get("/incidents/INC-1").text
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert "default-src 'self'" in client.get("/incidents/INC-1").headers["content-security-policy"]


def test_settings_pages(client: TestClient, admin: User) -> None:
    token = browser_login(client, admin.email)

    def post(path: str, **data):  # type: ignore[no-untyped-def]
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code in (200, 201), response.text
        return response.text

    assert "Team created." in post("/settings/teams", name="Storage")
    assert "User created." in post(
        "/settings/users",
        name="Lin",
        email="lin@example.com",
        role="viewer",
        timezone="Asia/Tokyo",
        password="pw-long-enough",
    )
    assert "Service created." in post("/settings/services", name="Blob store", tier="1")
    page = post(
        "/settings/types",
        name="Capacity",
        field_key=["disk", ""],
        field_label=["Disk", ""],
        field_kind=["number", "text"],
        field_required=["required", "optional"],
        field_options=["", ""],
    )
    assert "Incident type created." in page and "Disk" in page
    assert "saved" in post("/settings/templates/resolved", body="All good on {services}.")
    bad = post("/settings/users", name="X", email="not-an-email")
    assert "not a valid email" in bad
    # The form ticks every scope; a token with none is refused.
    assert "at least one scope" in post("/settings/tokens", name="ci")
    created = post(
        "/settings/tokens", name="ci", scopes=["read", "incidents", "configuration", "ingestion"]
    )
    secret = re.search(r'id="new-token">(tcs_[^<]+)<', created).group(1)  # type: ignore[union-attr]
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    assert secret not in client.get("/settings/tokens").text  # shown once
    token_id = re.search(r"/settings/tokens/(\d+)/revoke", created).group(1)  # type: ignore[union-attr]
    assert "Revoked" in post(f"/settings/tokens/{token_id}/revoke")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def test_live_events_announce_changes(live_server: str, admin: User) -> None:
    with httpx.Client(base_url=live_server, timeout=LOADED_MACHINE_TIMEOUT) as browser:
        browser.post("/login", data={"email": admin.email, "password": ADMIN_PASSWORD})
        page = browser.get("/incidents")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        browser.post("/incidents", data={"csrf_token": token, "title": "Live one"})
        with browser.stream("GET", "/incidents/INC-1/events") as events:
            lines = events.iter_lines()
            assert any(line.startswith("event: hello") for line in _take(lines, 3))
            other = httpx.Client(base_url=live_server, timeout=LOADED_MACHINE_TIMEOUT)
            other.post("/login", data={"email": admin.email, "password": ADMIN_PASSWORD})
            other.post(
                "/incidents/INC-1/status",
                data={"csrf_token": _csrf(other), "status": "acknowledged"},
            )
            other.close()
            assert any(line == "event: changed" for line in _take(lines, 20))


def test_a_change_between_the_page_and_its_live_stream_is_announced(
    live_server: str, admin: User
) -> None:
    """The page names the state it shows; a change made before its stream connects (a slow
    browser, a loaded server) still refreshes it."""
    with httpx.Client(base_url=live_server, timeout=LOADED_MACHINE_TIMEOUT) as browser:
        browser.post("/login", data={"email": admin.email, "password": ADMIN_PASSWORD})
        browser.post("/incidents", data={"csrf_token": _csrf(browser), "title": "Live one"})
        page = browser.get("/incidents/INC-1")
        live = re.search(r'data-live="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert "since=" in live
        browser.post(
            "/incidents/INC-1/status",
            data={"csrf_token": _csrf(browser), "status": "acknowledged"},
        )
        with browser.stream("GET", html.unescape(live)) as events:
            first = _take(events.iter_lines(), 6)
        assert "event: changed" in first, first
        # Connected with the page as it is now: nothing to announce.
        fresh = browser.get("/incidents/INC-1")
        live = re.search(r'data-live="([^"]+)"', fresh.text).group(1)  # type: ignore[union-attr]
        with browser.stream("GET", html.unescape(live)) as events:
            lines = events.iter_lines()
            opening = _take(lines, 4)  # hello, then a keep-alive per poll
        assert "event: changed" not in opening, opening


def _take(lines, n):  # type: ignore[no-untyped-def]
    out = []
    for line in lines:
        out.append(line)
        if len(out) >= n or line == "event: changed":
            break
    return out


def _csrf(client: httpx.Client) -> str:
    page = client.get("/incidents")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
