"""The public subscribe form, confirm and unsubscribe pages in a real browser, on a phone-sized
screen with JavaScript off, under the strict Content-Security-Policy."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.statuspages.models import Component, StatusPage
from tocsin.subscribers import tokens
from tocsin.subscribers.models import Subscriber

pytestmark = pytest.mark.browser


def test_subscribe_confirm_and_unsubscribe_without_javascript(
    live_server: str,
    chromium,
    db: Session,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page_row = StatusPage(slug="acme", name="Acme <Cloud>")
    db.add(page_row)
    db.flush()
    db.add_all([Component(page_id=page_row.id, name="API"),
                Component(page_id=page_row.id, name="Database", position=1)])  # fmt: skip
    db.commit()
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server}/status/acme/subscribe")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Acme <Cloud>")
        page.get_by_label("Email address").fill("phone@example.com")
        page.get_by_label("Database").check()
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

        db.rollback()
        subscriber = db.scalar(select(Subscriber))
        assert subscriber is not None and [c.name for c in subscriber.components] == ["Database"]
        token = tokens.confirm_token(
            settings.secret_key, subscriber.id, subscriber.link_salt, hours=1
        )
        page.goto(f"{live_server}/status/acme/subscribe/confirm/{token}")
        page.get_by_role("button", name="Confirm subscription").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Subscription confirmed")

        leave = tokens.unsubscribe_token(settings.secret_key, subscriber.id, subscriber.link_salt)
        page.goto(f"{live_server}/status/acme/unsubscribe/{leave}")
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribed")
    finally:
        context.close()
    assert problems == []  # no CSP violation, nothing broken
    db.rollback()
    db.expire_all()
    assert db.scalar(select(Subscriber.state)) == "unsubscribed"
