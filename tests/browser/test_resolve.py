"""Resolving asks for the resolution summary and whether to tell customers: an inline dialog
with JavaScript, a small page without."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.statuspages.conftest import make_page
from tocsin.catalog.models import User
from tocsin.incidents import service
from tocsin.incidents.models import Incident
from tocsin.statuspages import publish
from tocsin.statuspages.models import PageIncident

pytestmark = pytest.mark.browser


def test_the_dialog_cancels_and_resolves_telling_customers(
    db: Session,
    admin: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    acme = make_page(db, admin)
    incident = service.declare(db, by=admin, title="Checkout errors")
    publish.publish(
        db, publish.check(db, acme.page, incident, phase="identified", body="Found it."), by=admin
    )
    db.commit()
    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/incidents/{incident.reference}")
    header = page.locator("#incident-header")

    # Escape closes the dialog and changes nothing; focus is back on the link.
    resolve = page.get_by_role("link", name="Resolve…")
    resolve.click()
    dialog = page.get_by_role("dialog", name=f"Resolve {incident.reference}")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Resolution summary")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(resolve).to_be_focused()
    expect(header).to_contain_text("identified")

    resolve.click()
    expect(dialog.get_by_label("Tell customers it is resolved")).to_be_checked()
    message = dialog.get_by_label("Message for customers")
    expect(message).to_have_value(re.compile("have been resolved"))
    message.fill("Checkout works again. Sorry for the trouble.")
    dialog.get_by_label("Resolution summary").fill("Rolled back the gateway deploy.")
    dialog.get_by_role("button", name=f"Resolve {incident.reference}").click()
    expect(header).to_contain_text("resolved")
    expect(page.get_by_role("status")).to_contain_text("Customers told on Acme Status.")
    db.rollback()
    db.expire_all()
    pi = db.scalars(select(PageIncident).where(PageIncident.incident_id == incident.id)).one()
    assert pi.status == "resolved"
    assert pi.updates[0].body == "Checkout works again. Sorry for the trouble."


def test_without_javascript_resolving_is_a_page(
    db: Session,
    responder: User,
    live_server: str,
    chromium,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    incident = service.declare(db, by=responder, title="Search is slow")
    db.commit()
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, responder.email, ADMIN_PASSWORD)
        page.goto(f"{live_server}/incidents/{incident.reference}")
        page.get_by_role("link", name="Resolve…").click()
        page.wait_for_url(f"**/incidents/{incident.reference}/resolve")
        expect(page.get_by_role("heading", name=f"Resolve {incident.reference}")).to_be_visible()
        page.get_by_label("Resolution summary").fill("The index rebuild finished.")
        page.get_by_role("button", name=f"Resolve {incident.reference}").click()
        page.wait_for_url(re.compile(rf".*/incidents/{incident.reference}$"))
        expect(page.locator("#incident-header")).to_contain_text("resolved")
        expect(page.locator("#timeline")).to_contain_text("The index rebuild finished.")
    finally:
        context.close()
    db.rollback()
    db.expire_all()
    resolved = db.get(Incident, incident.id)
    assert resolved is not None and resolved.resolution_summary == "The index rebuild finished."
