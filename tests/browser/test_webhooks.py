"""Settings → Webhooks in a real browser: an admin adds a webhook, sees its signing secret
once, sends the test event to a real receiver on loopback, and sees the delivery in the log;
the secret the page showed verifies the signature the receiver got."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.webhooks.conftest import Receiver, receiver, run_jobs, settings  # noqa: F401
from tests.webhooks.test_signature import documented_verify
from tocsin.bootstrap import Container
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser


def test_add_a_webhook_see_the_secret_once_and_the_test_delivery(
    admin: User,
    live_server: str,
    container: Container,
    receiver: Receiver,  # noqa: F811
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/settings/webhooks")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    page.get_by_label("Name").fill("Data warehouse")
    page.get_by_label("URL").fill(receiver.url("/hooks/secret-token"))
    page.locator("input[name=events][value='incident.declared']").check()
    page.get_by_role("button", name="Add webhook").click()

    # The secret is shown once, with the new webhook in the list (its URL's path masked).
    secret = page.locator("#webhook-secret")
    expect(secret).to_contain_text("whsec_")
    shown = secret.inner_text().strip()
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    row = page.get_by_role("row", name="Data warehouse")
    expect(row).to_contain_text(f"http://127.0.0.1:{receiver.port}/…")
    expect(row).not_to_contain_text("secret-token")
    page.goto(f"{live_server}/settings/webhooks")
    expect(page.locator("#webhook-secret")).to_have_count(0)
    expect(page.get_by_text(shown)).to_have_count(0)

    page.get_by_role("link", name="Data warehouse").click()
    expect(page.get_by_text("Nothing sent yet.")).to_be_visible()
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_load_state()
    run_jobs(container)  # the worker's turn (the test server runs no engine of its own)

    [received] = receiver.requests
    assert received.path == "/hooks/secret-token"
    assert received.json()["event"] == "webhook.test"
    assert documented_verify()(shown, received.headers["x-tocsin-signature"], received.body)

    page.reload()
    delivery = page.locator("table").first.locator("tbody tr").first
    expect(delivery).to_contain_text("webhook.test")
    expect(delivery).to_contain_text("sent")
    expect(delivery).to_contain_text("200")
