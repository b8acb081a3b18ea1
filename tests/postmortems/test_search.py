"""Searching the postmortem library: text in titles and sections, and the incident's filters."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.postmortems.conftest import incident_of
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType
from tocsin.postmortems import publishing, service
from tocsin.postmortems.models import Postmortem


def _write(db: Session, postmortem: Postmortem, key: str, body: str, by: User) -> None:
    section = postmortem.section(key)
    assert section is not None
    service.save_section(db, postmortem, key, body, section.version, by=by)


def _library(db: Session, admin: User) -> dict[str, Postmortem]:
    """Three postmortems: checkout (Payments team, SEV1, old), search (SEV3), hidden."""
    payments = catalog.create_team(db, name="Payments")
    checkout = catalog.create_service(db, name="Checkout", team_id=payments.id)
    outage = db.scalars(select(IncidentType).order_by(IncidentType.id)).first()
    assert outage is not None
    old = incident_of(
        db, admin, "SEV1", started=utcnow() - timedelta(days=40), service_ids=[checkout.id],
        type_id=outage.id,
    )  # fmt: skip
    pms = {
        "checkout": service.start(db, old, by=admin),
        "search": service.start(db, incident_of(db, admin, "SEV3"), by=admin),
        "hidden": service.start(db, incident_of(db, admin, "SEV3", restricted=True), by=admin),
    }
    _write(db, pms["checkout"], "contributing_factors", "The DB pool hit 100% use_count.", admin)
    _write(db, pms["search"], "what_happened", "A CACHE stampede after the deploy.", admin)
    _write(db, pms["hidden"], "what_happened", "A cache stampede, but secret.", admin)
    db.commit()
    return pms


def _ids(client: TestClient, headers: dict[str, str] | None = None, **params: object) -> set[int]:
    got = client.get("/api/v1/postmortems", params=params, headers=headers or {})  # type: ignore[arg-type]
    assert got.status_code == 200, got.text
    return {p["id"] for p in got.json()["items"]}


def test_text_matches_sections_titles_and_references_in_any_case(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    pms = _library(db, admin)
    ids = {name: pm.id for name, pm in pms.items()}
    assert _ids(api, q="cache stampede") == {ids["search"], ids["hidden"]}
    assert _ids(api, q="Stampede AFTER") == {ids["search"]}
    # % and _ are letters, not wildcards.
    assert _ids(api, q="100%") == {ids["checkout"]}
    assert _ids(api, q="use_count") == {ids["checkout"]}
    assert _ids(api, q="use%count") == set() and _ids(api, q="pool_hit") == set()
    assert _ids(api, q="checkout failing (sev1)") == {ids["checkout"]}
    assert _ids(api, q=pms["search"].incident.reference) == {ids["search"]}
    # A restricted incident's postmortem is not found by those who may not see it.
    as_rita = api_as(client, db, responder)
    assert _ids(client, as_rita, q="stampede") == {ids["search"]}


def test_filters_by_the_incidents_service_team_severity_type_and_dates(
    api: TestClient, db: Session, admin: User
) -> None:
    pms = _library(db, admin)
    checkout = {pms["checkout"].id}
    assert _ids(api, service="checkout") == checkout
    assert _ids(api, team="Payments") == checkout
    assert _ids(api, severity="SEV1") == checkout
    assert _ids(api, severity="SEV3") == {pms["search"].id, pms["hidden"].id}
    type_id = pms["checkout"].incident.type_id
    assert _ids(api, type=str(type_id)) == checkout
    month_ago = (utcnow() - timedelta(days=30)).isoformat()
    assert _ids(api, until=month_ago) == checkout
    assert checkout.isdisjoint(_ids(api, since=month_ago))
    assert _ids(api, q="stampede", severity="SEV1") == set()
    unknown = api.get("/api/v1/postmortems", params={"service": "Nowhere"})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "service"


def test_the_page_searches_too(client: TestClient, db: Session, admin: User) -> None:
    pms = _library(db, admin)
    browser_login(client, admin.email)
    page = client.get("/postmortems", params={"show": "all", "q": "stampede", "severity": ""})
    assert page.status_code == 200
    assert pms["search"].incident.title in page.text
    assert f'/postmortems/{pms["checkout"].id}"' not in page.text
    assert 'value="stampede"' in page.text
    team = pms["checkout"].incident.services[0].team_id
    by_team = client.get("/postmortems", params={"show": "all", "team": str(team)})
    assert f'/postmortems/{pms["checkout"].id}"' in by_team.text
    assert f'/postmortems/{pms["search"].id}"' not in by_team.text
    bad = client.get("/postmortems", params={"since": "yesterday"})
    assert bad.status_code == 422 and "is not a date" in bad.text


def test_the_library_filters_the_published_ones(
    api: TestClient, client: TestClient, db: Session, admin: User
) -> None:
    pms = _library(db, admin)
    published = pms["search"]
    service.change_status(db, published, "in_review", by=admin)
    service.change_status(db, published, "reviewed", by=admin, override="Reviewed in the meeting")
    publishing.publish(db, published, by=admin)
    db.commit()
    assert _ids(api, published="true") == {published.id}
    assert _ids(api, published="false") == {pms["checkout"].id, pms["hidden"].id}
    browser_login(client, admin.email)
    page = client.get("/postmortems", params={"show": "published"})
    assert page.status_code == 200
    assert f'/postmortems/{published.id}"' in page.text
    assert f'/postmortems/{pms["checkout"].id}"' not in page.text
    assert '<span class="badge ok">published</span>' in page.text
