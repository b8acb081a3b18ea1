"""Two people tick steps of the same runbook from two browsers: neither loses the other's
tick, and each sees the other's, live (the incident page refreshes its Runbooks card) and
after a reload."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.runbooks.conftest import incident, incident_type
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser


def test_two_browsers_tick_one_runbook(
    db: Session,
    admin: User,
    responder: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    inc = incident(db, admin, "Checkout failing")
    db.commit()
    url = f"{live_server}/incidents/{inc.reference}"

    ada, rita = new_page(), new_page()
    login(ada, live_server, admin.email, ADMIN_PASSWORD)
    login(rita, live_server, responder.email, ADMIN_PASSWORD)

    # Ada attaches the commander's checklist from the incident page.
    ada.goto(url)
    card = ada.locator("#runbooks")
    expect(card).to_contain_text("No runbook attached.")
    card.get_by_label("Add a runbook").select_option(label="Incident commander checklist")
    card.get_by_role("button", name="Attach").click()
    expect(card).to_contain_text("0/14 done")
    # With JavaScript the Save buttons are hidden: the checkbox saves itself.
    expect(card.get_by_role("button", name="Save")).to_have_count(0)

    rita.goto(url)
    rita_card = rita.locator("#runbooks")
    expect(rita_card).to_contain_text("Incident commander checklist")

    step1 = card.locator("input[type=checkbox]").nth(0)
    step1.check()
    expect(ada.locator("#runbooks")).to_contain_text("ticked by Ada Admin")

    # Rita's page had loaded before Ada ticked; she ticks step 2.
    rita.locator("#runbooks input[type=checkbox]").nth(1).check()
    expect(rita.locator("#runbooks")).to_contain_text("2/14 done")
    expect(rita.locator("#runbooks input[type=checkbox]").nth(0)).to_be_checked()
    expect(rita.locator("#runbooks")).to_contain_text("ticked by Ada Admin")

    # Ada sees Rita's tick live, then after a reload.
    expect(ada.locator("#runbooks input[type=checkbox]").nth(1)).to_be_checked(timeout=15_000)
    ada.reload()
    boxes = ada.locator("#runbooks input[type=checkbox]")
    expect(boxes.nth(0)).to_be_checked()
    expect(boxes.nth(1)).to_be_checked()
    expect(boxes.nth(2)).not_to_be_checked()
    expect(ada.locator("#runbooks")).to_contain_text("ticked by Rita Responder")
    expect(ada.locator("#timeline")).to_contain_text("Rita Responder ticked step 2")

    # Rita unticks Ada's step; Ada sees it after a reload.
    rita.locator("#runbooks input[type=checkbox]").nth(0).uncheck()
    expect(rita.locator("#runbooks")).to_contain_text("1/14 done")
    ada.reload()
    expect(ada.locator("#runbooks input[type=checkbox]").nth(0)).not_to_be_checked()


def test_without_javascript_a_step_is_ticked_with_its_save_button(
    db: Session,
    admin: User,
    live_server: str,
    chromium,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    security = incident_type(db, "Security incident")
    inc = incident(
        db, admin, "Leaked key", type_id=security.id, custom_fields={"security_lead": admin.id}
    )
    db.commit()
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, admin.email, ADMIN_PASSWORD)
        page.goto(f"{live_server}/incidents/{inc.reference}")
        card = page.locator("#runbooks")
        # Attached by itself on declare; its command is plain text, with no Copy button.
        expect(card).to_contain_text("Security incident checklist")
        expect(card.locator("pre")).to_contain_text("sudo shutdown now")
        expect(card.get_by_role("button", name="Copy")).to_have_count(0)
        step = card.locator("form.runbook-step").nth(1)
        step.locator("input[type=checkbox]").check()
        step.get_by_role("button", name="Save").click()
        expect(page.locator("#runbooks")).to_contain_text("1/13 done")
        expect(page.locator("#runbooks form.runbook-step").nth(1)).to_contain_text(
            "ticked by Ada Admin"
        )
    finally:
        context.close()
