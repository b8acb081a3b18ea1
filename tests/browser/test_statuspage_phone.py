"""The public status page on a phone, without JavaScript: readable, with its landmarks."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.statuspages.conftest import make_page
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents
from tocsin.statuspages import publish

pytestmark = pytest.mark.browser


def test_the_page_reads_on_a_phone_without_javascript(
    live_server: str,
    chromium,
    db: Session,
    admin: User,
    container: Container,  # type: ignore[no-untyped-def]
) -> None:
    acme = make_page(db, admin)
    incident = incidents.declare(db, by=admin, title="Checkout errors")
    draft = publish.check(
        db, acme.page, incident, phase="identified",
        body="A very long message without spaces: " + "x" * 300,
        components={acme.checkout.id: "major_outage"},
    )  # fmt: skip
    publish.publish(db, draft, by=admin)
    db.commit()
    container.runner("phone-test").run_until_idle()
    url = f"{live_server}/status/acme/"
    deadline = time.monotonic() + 15
    while httpx.get(url, timeout=30).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server's cache picks the render up within its poll interval
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, java_script_enabled=False, is_mobile=True
    )
    try:
        page = context.new_page()
        page.goto(url)
        for landmark in ("banner", "main", "contentinfo"):
            assert page.get_by_role(landmark).count() == 1, landmark
        assert page.get_by_text("Major System Outage").is_visible()
        assert page.get_by_role("link", name="Subscribe to updates").is_visible()
        assert page.get_by_role("img", name="Checkout: ").is_visible()  # the uptime bar, named
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "nothing makes the phone scroll sideways"
        page.get_by_role("link", name="Checkout errors").click()
        assert page.get_by_role("heading", name="Checkout errors").is_visible()
    finally:
        context.close()
