"""User text is shown as text: XSS payloads in every field neither run nor become markup."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
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

    pages = ["/incidents", "/action-items", "/settings/teams", "/settings/services"]
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
