"""Paging in a real browser: the incident's paging card says who was paged and why, and a
responder escalates from it; the person paged acknowledges from the link in their email."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.escalation.conftest import Org, org, recipients, work  # noqa: F401
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents

pytestmark = pytest.mark.browser


def test_escalate_from_the_paging_card_and_acknowledge_from_the_email(
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
    admin: User,
    db: Session,
    container: Container,
    smtp: SmtpServer,  # noqa: F811
    org: Org,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    incident = incidents.declare(
        db, by=admin, title="Orders stuck in pending", service_ids=[org.service.id]
    )
    work(db, container)
    assert len(smtp.messages) == 1

    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/incidents/{incident.reference}")
    card = page.locator("#paging")
    expect(card).to_contain_text("Escalation policy \u201cCheckout\u201d")
    expect(card).to_contain_text("Level 1: paged")
    expect(card).to_contain_text("sent")

    card.locator("summary", has_text="Escalate").click()
    card.get_by_label("Level").fill("2")
    card.get_by_role("button", name="Escalate").click()
    page.wait_for_url(re.compile(rf".*/incidents/{incident.reference}.*"))
    expect(page.locator(".flash")).to_contain_text("Escalated")
    work(db, container)
    assert recipients(smtp)[-1] == org.carol.email

    # Carol opens the link in her email on her phone, without logging in.
    body = smtp.messages[-1].get_body(("plain",)).get_content()
    link = re.search(r"Acknowledge: (\S+)", body)
    assert link
    phone = new_page(390, 844)
    phone.goto(link.group(1).replace("http://tocsin.test", live_server))
    phone.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(phone.locator("body")).to_contain_text("acknowledged by Carol")

    page.reload()
    expect(page.locator("#incident-header")).to_contain_text("acknowledged")
    expect(page.locator("#paging")).to_contain_text("acknowledged")
