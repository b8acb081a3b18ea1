"""Every page renders for every role on the demo organisation (no template errors, no 500s)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.alerts.models import Event, Integration
from tocsin.bootstrap import Container
from tocsin.catalog.models import Service
from tocsin.demo.history import KINDS
from tocsin.demo.seed import DEMO_PASSWORD, seed_demo
from tocsin.escalation.models import EscalationPolicy
from tocsin.incidents.models import Incident
from tocsin.schedules.models import Schedule
from tocsin.statuspages.models import StatusPage
from tocsin.workflows.models import Workflow

SETTINGS = [
    "teams",
    "users",
    "services",
    "severities",
    "priorities",
    "types",
    "roles",
    "templates",
    "tokens",
    "comms",
    "workflows",
]

PAST = sorted({title for title, *_ in KINDS})  # the demo's past incidents (demo/history.py)


@pytest.mark.parametrize(
    ("email", "password", "can_edit"),
    [
        ("admin@example.com", ADMIN_PASSWORD, True),
        ("claire@example.com", DEMO_PASSWORD, False),  # a viewer
    ],
)
def test_every_page_renders(
    client: TestClient,
    db: Session,
    container: Container,
    email: str,
    password: str,
    can_edit: bool,
) -> None:
    seed_demo(db, "admin@example.com", ADMIN_PASSWORD)
    db.commit()
    container.runner(name="test").run_until_idle()  # paging starts: records to show
    db.rollback()
    browser_login(client, email, password)
    past = list(
        db.scalars(
            select(Incident.number).where(Incident.title.in_(PAST)).order_by(Incident.number)
        )
    )
    live = list(
        db.scalars(
            select(Incident.number).where(Incident.title.not_in(PAST)).order_by(Incident.number)
        )
    )
    assert len(live) == 12  # ten demo incidents and two in the status page's history
    # ... and two of the thirteen weeks of past ones (the same pages, only older).
    refs = [f"INC-{n}" for n in (*live, *past[:2])]
    paths = [
        "/incidents",
        "/incidents?open=on&hide_drills=on",
        "/action-items",
        "/action-items?show=overdue",
        "/action-items?show=mine",
        "/settings",
    ]
    paths += [f"/incidents/{ref}" for ref in refs] + [f"/incidents/{refs[0]}?key=1"]
    paths += [f"/settings/{name}" for name in SETTINGS]
    integrations = list(db.scalars(select(Integration.id)))
    services = list(db.scalars(select(Service.id)))
    events = list(db.scalars(select(Event.id)))
    assert integrations and events
    paths += ["/integrations", "/events", "/events?outcome=suppressed"]
    paths += ["/alerts", "/alerts?status=all", "/alerts?status=resolved&q=disk"]
    paths += [f"/integrations/{i}" for i in integrations]
    paths += [f"/events/{i}" for i in events]
    paths += [f"/services/{i}" for i in services]
    paths += [f"/services/{i}/events" for i in services]
    paths += [f"/services/{i}/alerting" for i in services]
    paths += [f"/incidents/{ref}/alerts" for ref in refs]
    schedules = list(db.scalars(select(Schedule.id)))
    assert len(schedules) == 4  # three teams' rotations and the IC rotation
    paths += ["/schedules"] + [f"/schedules/{i}" for i in schedules]
    paths += [f"/schedules/{schedules[0]}?days=28&start=2026-03-23"]
    policies = list(db.scalars(select(EscalationPolicy.id)))
    assert len(policies) == 4
    paths += ["/escalation-policies"] + [f"/escalation-policies/{i}" for i in policies]
    paths += [f"/services/{i}/paging" for i in services]
    pages = list(db.scalars(select(StatusPage.id)))
    assert len(pages) == 1
    paths += ["/status-pages"] + [f"/status-pages/{i}" for i in pages]
    paths += [f"/status-pages/{i}/maintenance" for i in pages]
    paths += [f"/status-pages/{i}/preview/" for i in pages]
    workflows = list(db.scalars(select(Workflow.id)))
    assert workflows  # the seeded severity workflows
    paths += [f"/settings/workflows/{i}" for i in workflows]
    paths += [f"/settings/workflows/test?incident={refs[0]}&trigger=declared"]
    # The demo's restricted incident exists only for admins and the people involved.
    restricted = list(db.scalars(select(Incident.number).where(Incident.restricted.is_(True))))
    assert len(restricted) == 1
    hidden = set() if can_edit else {f"/incidents/INC-{restricted[0]}"}
    for path in paths:
        response = client.get(path)
        expected = 404 if path.removesuffix("/alerts") in hidden else 200
        assert response.status_code == expected, (path, response.status_code)
        if not can_edit:
            assert "Post update" not in response.text, path  # viewers read only
    api_errors = db.scalars(
        select(Incident.number).where(Incident.title.startswith("Public API returning 502"))
    ).one()
    assert ("Post update" in client.get(f"/incidents/INC-{api_errors}").text) == can_edit
    # Subscribers are personal data: responders and admins read the lists, viewers do not.
    for page_id in pages:
        listing = client.get(f"/status-pages/{page_id}/subscribers")
        assert listing.status_code == (200 if can_edit else 403)
    new = client.get("/incidents/new")
    assert new.status_code == (200 if can_edit else 403)
    # Resolving (a page of its own without JavaScript) is for responders, on every incident.
    for ref in refs:
        resolve = client.get(f"/incidents/{ref}/resolve")
        assert resolve.status_code == (200 if can_edit else 403), ref
    if not can_edit:
        assert "Acknowledge</button>" not in client.get("/alerts").text
