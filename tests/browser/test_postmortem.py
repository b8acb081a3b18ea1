"""A SEV1 resolved has its postmortem; two people edit the same section in two browsers, and
the second save shows the conflict with both texts instead of losing either."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents
from tocsin.postmortems import service

pytestmark = pytest.mark.browser


def test_two_editors_of_one_section_meet_the_conflict(
    db: Session,
    admin: User,
    responder: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    incident = incident_of(db, admin, "SEV1", commander=admin)
    incidents.resolve(db, incident, by=admin, summary="Rolled back the gateway deploy.")
    db.commit()

    ada, rita = new_page(), new_page()
    login(ada, live_server, admin.email, ADMIN_PASSWORD)
    login(rita, live_server, responder.email, ADMIN_PASSWORD)
    for page in (ada, rita):
        page.goto(f"{live_server}/incidents/{incident.reference}")
        card = page.locator("#postmortem")
        expect(card).to_contain_text("Next deadline")
        card.get_by_role("link", name="Draft postmortem").click()
        expect(page.locator("#section-resolution")).to_contain_text(
            "Rolled back the gateway deploy."
        )
        page.locator("#section-what_happened summary", has_text="Edit").click()

    ada.get_by_label("Markdown").locator("visible=true").fill("A bad deploy of the gateway.")
    ada.get_by_role("button", name="Save What happened").click()
    expect(ada.locator("#section-what_happened .markdown")).to_contain_text("A bad deploy")

    rita.get_by_label("Markdown").locator("visible=true").fill("Card payments failed for 20 min.")
    rita.get_by_role("button", name="Save What happened").click()
    conflict = rita.get_by_role("alert")
    expect(conflict).to_contain_text("Not saved: someone changed this section")
    expect(rita.locator(".conflict-saved")).to_have_text("A bad deploy of the gateway.")
    expect(rita.locator(".conflict-yours")).to_have_text("Card payments failed for 20 min.")
    editor = rita.locator("#body-what_happened")
    expect(editor).to_have_value("Card payments failed for 20 min.")

    # Rita combines both and saves from the current version.
    editor.fill("A bad deploy of the gateway.\n\nCard payments failed for 20 min.")
    rita.get_by_role("button", name="Save What happened").click()
    expect(rita.locator("#section-what_happened .markdown")).to_contain_text("Card payments")
    db.rollback()
    db.expire_all()
    postmortem = service.for_incident(db, incident)
    assert postmortem is not None
    section = postmortem.section("what_happened")
    assert section is not None and section.version == 3
