"""Build a workflow in the UI (issue 17's browser test): an admin creates it in Settings →
Workflows, adding actions one by one (each "Add action" posts the form and the page comes
back with one more row), is told what a refused save got wrong next to the field, tests it
against an incident, and then sees it run on an incident declared afterwards: its run shows
on the incident page's Workflows card and on the workflow's page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.workflows.conftest import work
from tocsin.bootstrap import Container
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser


def test_build_a_workflow_in_the_ui(
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
    admin: User,
    db: Session,
    container: Container,
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Workflows").click()
    page.get_by_role("link", name="New workflow").click()

    page.get_by_label("Name").fill("SEV1: checklist and a call to the bank")
    # With JavaScript, a timer's minutes are asked for only when a timer is chosen.
    expect(page.get_by_label("Minutes")).to_be_hidden()
    page.get_by_label("Trigger").select_option("no_update")
    expect(page.get_by_label("Minutes")).to_be_visible()
    page.get_by_label("Trigger").select_option("declared")
    page.get_by_label("Severities").select_option("SEV1")

    page.get_by_label("New action").select_option(label="Add runbook")
    page.get_by_role("button", name="Add action").click()
    first = page.locator("#action-0")
    expect(first).to_contain_text("1. Add runbook")
    first.get_by_label("Runbook").select_option(label="Incident commander checklist")

    page.get_by_label("New action").select_option(label="Create action item")
    page.get_by_role("button", name="Add action").click()
    second = page.locator("#action-1")
    expect(second).to_contain_text("2. Create action item")
    # What was typed before survived the round trip.
    expect(page.get_by_label("Name")).to_have_value("SEV1: checklist and a call to the bank")
    expect(first.get_by_label("Runbook")).to_have_value(re.compile(r"\d+"))

    # A page to a person without the person: refused, said next to the field, nothing lost.
    page.get_by_label("New action").select_option(label="Page")
    page.get_by_role("button", name="Add action").click()
    third = page.locator("#action-2")
    third.get_by_label("Target").select_option("person")
    second.get_by_label("Title").fill("Call the bank's incident line")
    page.get_by_role("button", name="Create workflow").click()
    expect(third.locator(".field-error")).to_contain_text("paging a person needs user_id")
    expect(page.locator("#action-1").get_by_label("Title")).to_have_value(
        "Call the bank's incident line"
    )
    # Moved first, then removed: the other two stay, in their order.
    page.get_by_role("button", name="Move up action 3").click()
    expect(page.locator("#action-1")).to_contain_text("2. Page")
    page.get_by_role("button", name="Remove action 2").click()
    expect(page.locator(".wf-action")).to_have_count(2)
    expect(page.locator("#action-1")).to_contain_text("2. Create action item")
    page.get_by_role("button", name="Create workflow").click()
    expect(page.locator(".flash")).to_contain_text("created")
    expect(page.locator("#runs")).to_contain_text("No runs yet.")

    # Declared afterwards, a SEV1: the workflow runs on it once its jobs have run.
    page.goto(f"{live_server}/incidents/new")
    page.get_by_label("Title").fill("Card payments declined")
    severity = page.get_by_label("Severity")
    sev1 = severity.locator("option", has_text="SEV1").get_attribute("value")
    severity.select_option(sev1)
    page.get_by_role("button", name="Declare incident").last.click()
    page.wait_for_url(re.compile(r".*/incidents/INC-\d+"))
    reference = page.url.rsplit("/", 1)[1].split("?")[0]
    work(db, container)

    page.reload()
    card = page.locator("#workflows")
    expect(card).to_contain_text("SEV1: checklist and a call to the bank")
    expect(card).to_contain_text("done: attached runbook “Incident commander checklist”")
    expect(card).to_contain_text("done: action item “Call the bank's incident line” created")

    # The workflow's page lists the run; testing it against the incident says what it would do.
    page.goto(f"{live_server}/settings/workflows")
    page.get_by_role("link", name="SEV1: checklist and a call to the bank", exact=True).click()
    expect(page.locator("#runs")).to_contain_text(reference)
    expect(page.locator("#runs")).to_contain_text("done")
    page.get_by_role("link", name="Test against an incident").click()
    page.get_by_label("Incident").fill(reference)
    page.get_by_role("button", name="Test").click()
    result = page.locator("#dry-run")
    expect(result).to_contain_text("SEV1: checklist and a call to the bank")
    expect(result).to_contain_text("create the action item “Call the bank's incident line”")
    expect(result).to_contain_text("(runbook: Incident commander checklist)")


def test_without_javascript_a_timer_workflow_is_built_and_saved(
    live_server: str,
    chromium,  # type: ignore[no-untyped-def]
    admin: User,
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, admin.email, ADMIN_PASSWORD)
        page.goto(f"{live_server}/settings/workflows/new")
        page.get_by_label("Name").fill("Nudge after 20 quiet minutes")
        page.get_by_label("Trigger").select_option("no_update")
        expect(page.get_by_label("Minutes")).to_be_visible()  # always shown, with its hint
        page.get_by_label("Minutes").fill("20")
        page.get_by_label("New action").select_option(label="Post internal update")
        page.get_by_role("button", name="Add action").click()
        page.locator("#action-0").get_by_label("Body").fill("Still looking: next update soon.")
        page.get_by_role("button", name="Create workflow").click()
        expect(page.locator(".flash")).to_contain_text("created")
        expect(page.get_by_label("Minutes")).to_have_value("20")
        expect(page.locator("#action-0").get_by_label("Body")).to_have_value(
            "Still looking: next update soon."
        )
    finally:
        context.close()
