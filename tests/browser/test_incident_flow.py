"""A responder runs an incident in a real browser while a colleague watches it update live."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser

LIVE_TIMEOUT = 10_000  # ms: the watcher's page must change by itself within this


def test_declare_to_close_with_a_live_second_session(
    live_server: str,
    new_page,
    admin: User,
    responder: User,
    db: Session,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    commander = new_page()
    login(commander, live_server, admin.email, ADMIN_PASSWORD)

    # Declare.
    commander.get_by_role("link", name="Declare").first.click()
    commander.get_by_label("Title").fill("Checkout returns 502 for card payments")
    severity = commander.get_by_label("Severity")
    severity.select_option(severity.locator("option", has_text="SEV2").get_attribute("value"))
    commander.get_by_role("button", name="Declare incident").click()
    commander.wait_for_url(re.compile(r".*/incidents/INC-1$"))
    header = commander.locator("#incident-header")
    expect(header).to_contain_text("Checkout returns 502 for card payments")
    expect(header).to_contain_text("triggered")

    # A colleague opens the same incident in another browser session.
    watcher = new_page(390, 844)
    login(watcher, live_server, responder.email, ADMIN_PASSWORD)
    watcher.goto(f"{live_server}/incidents/INC-1")
    watcher_header = watcher.locator("#incident-header")
    expect(watcher_header).to_contain_text("triggered")

    # Acknowledge: the watcher sees it without reloading.
    commander.get_by_role("button", name="Acknowledge").click()
    expect(header).to_contain_text("acknowledged")
    expect(watcher_header).to_contain_text("acknowledged", timeout=LIVE_TIMEOUT)

    # Assign the commander.
    roles = commander.locator("#roles")
    expect(roles).to_contain_text("Nobody holds a role yet.")
    roles.get_by_label("Role").select_option(label="Incident Commander")
    roles.get_by_label("Person").select_option(label="Rita Responder")
    roles.get_by_role("button", name="Assign").click()
    expect(roles).to_contain_text("Incident Commander: Rita Responder")
    expect(commander.locator("#incident-header")).to_contain_text("Rita Responder")
    expect(watcher.locator("#incident-header")).to_contain_text(
        "Rita Responder", timeout=LIVE_TIMEOUT
    )

    # Post an Identified update, pre-filled from the template.
    updates = commander.locator("#update-composer")
    updates.get_by_label("Phase").select_option("identified")
    body = updates.get_by_label("Update", exact=True)
    expect(body).to_have_value(re.compile("identified the cause"), timeout=LIVE_TIMEOUT)
    body.fill("We have identified a bad deploy of the payment gateway and are rolling back.")
    updates.get_by_role("button", name="Post update").click()
    expect(commander.locator("#incident-header")).to_contain_text("identified")
    expect(commander.locator("#updates")).to_contain_text("rolling back")
    expect(watcher.locator("#updates")).to_contain_text("rolling back", timeout=LIVE_TIMEOUT)
    expect(watcher_header).to_contain_text("identified", timeout=LIVE_TIMEOUT)

    # Add an action item.
    items = commander.locator("#action-items")
    items.get_by_label("Action", exact=True).fill("Add a canary stage to gateway deploys")
    items.get_by_role("button", name="Add action item").click()
    expect(commander.locator("#action-items")).to_contain_text("Add a canary stage")
    expect(watcher.locator("#action-items")).to_contain_text(
        "Add a canary stage", timeout=LIVE_TIMEOUT
    )

    # Severity from the header.
    commander.get_by_label("Severity", exact=True).select_option(label="SEV1 Critical")
    commander.get_by_role("button", name="Set severity").click()
    expect(commander.locator("#incident-header")).to_contain_text("SEV1")
    expect(watcher_header).to_contain_text("SEV1", timeout=LIVE_TIMEOUT)

    # Resolve, in a dialog asking for the resolution summary, then close.
    commander.get_by_role("link", name="Resolve…").click()
    dialog = commander.get_by_role("dialog", name="Resolve INC-1")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Resolution summary").fill("Rolled back the gateway deploy.")
    dialog.get_by_role("button", name="Resolve INC-1").click()
    expect(commander.locator("#incident-header")).to_contain_text("resolved")
    expect(commander.locator("#summary")).to_contain_text("Rolled back the gateway deploy.")
    commander.get_by_role("button", name="Close").click()
    expect(commander.locator("#incident-header")).to_contain_text("closed")
    expect(watcher_header).to_contain_text("closed", timeout=LIVE_TIMEOUT)

    # The timeline tells the story, in order.
    timeline = commander.locator("#timeline").inner_text()
    order = [
        "declared",
        "acknowledged",
        "Incident Commander",
        "identified",
        "canary",
        "SEV1",
        "resolved",
        "resolution summary",
        "closed",
    ]
    positions = [timeline.find(word) for word in order]
    assert -1 not in positions, (order, positions, timeline)
    assert positions == sorted(positions), timeline
