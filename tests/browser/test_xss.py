"""User text is shown as text: XSS payloads in every field neither run nor become markup."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD, settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentType
from tocsin.incidents import actions, service, updates

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>window.__xss = 'script'</script>",
    '"><img src=x onerror="window.__xss=\'img\'">',
    "<svg onload=\"window.__xss='svg'\"></svg>",
    "[click me](javascript:window.__xss='md-link')",
    "<a href=\"javascript:window.__xss='a'\">a</a>",
    "{{ 7*7 }} ${7*7} <iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
    "<details open ontoggle=\"window.__xss='details'\">",
]


def _seed(db: Session, admin: User) -> list[str]:
    security = db.scalars(
        select(IncidentType).where(IncidentType.name == "Security incident")
    ).one()
    team = catalog.create_team(db, name=PAYLOADS[1][:100], description=PAYLOADS[0])
    svc = catalog.create_service(
        db, name=PAYLOADS[2][:100], team_id=team.id, description=PAYLOADS[3]
    )
    refs = []
    for i, payload in enumerate(PAYLOADS):
        incident = service.declare(
            db,
            by=admin,
            title=payload,
            description=payload,
            customer_impact=payload,
            type_id=security.id,
            service_ids=[svc.id],
            custom_fields={"attack_vector": payload, "security_lead": admin.id},
            links=[{"title": payload, "url": "https://example.com/x"}],
        )
        service.add_note(db, incident, payload, by=admin, key_event=i % 2 == 0)
        updates.post_update(
            db, incident, phase="investigating", body=payload, visibility="external", by=admin
        )
        actions.add_action_item(
            db,
            incident,
            title=payload[:255],
            description=payload,
            due_date=date(2020, 1, 1),
            kind="follow_up",  # on /follow-ups and in later incidents' recurrence cards too
            by=admin,
        )
        refs.append(incident.reference)
    db.commit()
    return refs


def _assert_inert(page, where: str) -> None:  # type: ignore[no-untyped-def]
    fired = page.evaluate("window.__xss")
    assert fired is None, f"payload ran on {where}: {fired}"
    # Nothing from the payloads became markup.
    for selector in (
        "img[onerror]",
        "svg[onload]",
        "iframe",
        "details[ontoggle]",
        "a[href^='javascript:']",
        "script:not([src])",
    ):
        assert page.locator(selector).count() == 0, f"{selector} on {where}"


def test_xss_payloads_stay_text_everywhere(
    live_server: str,
    new_page,
    db: Session,
    admin: User,  # type: ignore[no-untyped-def]
) -> None:
    refs = _seed(db, admin)
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, live_server, admin.email, ADMIN_PASSWORD)

    pages = ["/incidents", "/action-items", "/follow-ups", "/settings/teams", "/settings/services"]
    pages += [f"/incidents/{ref}" for ref in refs]
    for path in pages:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("load")
        _assert_inert(page, path)
    # The text survives as text: the script payload is visible on its incident page.
    page.goto(f"{live_server}/incidents/{refs[0]}")
    assert (
        "<script>window.__xss = 'script'</script>" in page.locator("#incident-header").inner_text()
    )
    assert dialogs == []


def test_alert_payloads_stay_text_on_the_alert_pages(
    live_server: str,
    new_page,
    db: Session,
    admin: User,
    container,  # type: ignore[no-untyped-def]
) -> None:
    """What a sender sends (summary, source, details, links, images) is shown as text on the
    incident, alert and event pages; only http(s) links become links."""
    svc = catalog.create_service(db, name="Checkout")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "xss",
        "payload": {
            "summary": PAYLOADS[0],
            "source": PAYLOADS[1][:255],
            "severity": "critical",
            "custom_details": {payload[:40]: payload for payload in PAYLOADS}
            | {"nested": {"deeper": PAYLOADS[2]}},
        },
        "links": [
            {"href": "javascript:window.__xss='link'", "text": PAYLOADS[4]},
            {"href": "https://runbooks.example.com/x", "text": PAYLOADS[5]},
        ],
        "images": [
            {
                "src": "https://charts.example.com/x.png",
                "href": "javascript:window.__xss='i'",
                "alt": PAYLOADS[6],
            },
        ],
    }
    assert httpx.post(f"{live_server}/v2/enqueue", json=body, timeout=30).status_code == 202
    settle(container)
    alert_id = db.scalars(select(Alert.id)).one()
    event_id = db.scalars(select(Event.id)).one()
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    for path in [
        "/incidents/INC-1",
        "/incidents/INC-1/alerts",
        f"/alerts/{alert_id}",
        f"/events/{event_id}",
    ]:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("load")
        _assert_inert(page, path)
        assert page.locator("img[src^='https://charts.example.com']").count() == 0
    page.goto(f"{live_server}/incidents/INC-1")
    card = page.locator("#alerts").inner_text()
    assert PAYLOADS[0] in card and PAYLOADS[2] in card and PAYLOADS[6] in card
    assert page.locator("#alerts a[href='https://runbooks.example.com/x']").count() == 1
    assert dialogs == []
