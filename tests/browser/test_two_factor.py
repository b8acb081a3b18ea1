"""Two-factor in Chromium: a person enrols from the Security page (QR code and key, a first
code, the recovery codes), then logs in with a password and a code from their app."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.auth.models import TwoFactor, WebSession
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser


def test_enrolling_and_logging_in_with_a_code(
    db: Session,
    responder: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, responder.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/me/security")
    expect(page.get_by_text("this session")).to_be_visible()
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.locator(".qr svg")).to_be_visible()
    authenticator = pyotp.TOTP(page.locator("#totp-secret").inner_text())
    page.get_by_label("Code from the app").fill(authenticator.now())
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.get_by_text("since")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server}/login**")
    # The enrolment spent the current step's code; sign in as if it were a minute later.
    db.execute(update(TwoFactor).values(last_step=0))
    db.commit()

    page.get_by_label("Email").fill(responder.email)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/login/code")
    assert db.scalars(select(WebSession)).all() == []  # no session before the code
    db.commit()
    page.get_by_label("Code").fill("000000" if authenticator.now() != "000000" else "111111")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Code").fill(authenticator.now())
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/incidents**")
    expect(page.get_by_role("link", name=responder.name)).to_be_visible()
