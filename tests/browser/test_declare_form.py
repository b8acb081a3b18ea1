"""Changing the type on the declare form keeps what was typed, with and without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser

TITLE = "Card payments fail for EU customers"
DESCRIPTION = "Since 09:10 every card payment is declined.\nThe gateway answers 502."


def _fill_and_change_type(page, base_url: str, *, javascript: bool) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/incidents/new")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description").fill(DESCRIPTION)
    page.get_by_label("Customer impact").fill("Nobody can pay by card")
    page.get_by_label("Drill").check()
    page.get_by_label("Type", exact=True).select_option(label="Security incident")
    if not javascript:
        page.get_by_role("button", name="Use this type").click()
    page.get_by_label("Security lead").wait_for()


def _assert_kept(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.get_by_label("Description")).to_have_value(DESCRIPTION)
    expect(page.get_by_label("Customer impact")).to_have_value("Nobody can pay by card")
    expect(page.get_by_label("Drill")).to_be_checked()
    expect(page.get_by_label("Type", exact=True)).to_have_value(re.compile(r"\d+"))
    # The security type's defaults came with its fields.
    expect(page.get_by_label("Private (security incident")).to_be_checked()
    severity = page.get_by_label("Severity").evaluate("s => s.selectedOptions[0].text")
    assert severity.startswith("SEV1"), severity


def test_with_javascript_the_type_change_keeps_the_text_and_declares(
    live_server: str,
    new_page,
    responder: User,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, responder.email, ADMIN_PASSWORD)
    _fill_and_change_type(page, live_server, javascript=True)
    _assert_kept(page)
    expect(page.get_by_role("button", name="Use this type")).to_be_hidden()
    expect(page.get_by_label("Type", exact=True)).to_be_focused()  # keyboard users stay put
    page.get_by_label("Security lead").select_option(label="Rita Responder")
    # Enter in a field declares (the hidden first button is the form's default).
    page.get_by_label("Title").press("Enter")
    page.wait_for_url(re.compile(r".*/incidents/INC-1$"))
    header = page.locator("#incident-header")
    expect(header).to_contain_text(TITLE)
    expect(header).to_contain_text("Security incident")
    expect(header).to_contain_text("private")


def test_without_javascript_use_this_type_keeps_the_text(
    live_server: str,
    chromium,
    responder: User,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, responder.email, ADMIN_PASSWORD)
        _fill_and_change_type(page, live_server, javascript=False)
        _assert_kept(page)
        page.get_by_label("Security lead").select_option(label="Rita Responder")
        page.get_by_role("button", name="Declare incident").click()
        page.wait_for_url(re.compile(r".*/incidents/INC-1$"))
        expect(page.locator("#incident-header")).to_contain_text(TITLE)
    finally:
        context.close()
