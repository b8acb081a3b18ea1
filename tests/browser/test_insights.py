"""Insights in a real browser: the KPIs of tests/insights/conftest.py's history, a filter chosen
in the form, a figure followed to its incidents, and the page without JavaScript."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.insights.conftest import history  # noqa: F401  (the fixture)
from tocsin.catalog.models import User
from tocsin.incidents.models import Incident

pytestmark = pytest.mark.browser


def figure(page, heading: str):  # type: ignore[no-untyped-def]
    """The big number of the key figure under `heading`."""
    kpi = page.locator(".kpi").filter(has=page.get_by_role("heading", name=heading))
    return kpi.locator(".figure")


MARCH = "period=month&date=2026-03-10"


def test_a_manager_reads_the_kpis_filters_by_team_and_opens_the_incidents_behind_a_figure(
    db: Session,
    admin: User,
    history: dict[str, Incident],  # noqa: F811
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.get_by_role("link", name="Insights").click()
    page.goto(f"{live_server}/insights?{MARCH}")
    expect(figure(page, "MTTA")).to_have_text("30 min")
    expect(figure(page, "Incidents")).to_have_text("4")
    expect(page.get_by_role("img", name="Incidents per day")).to_be_visible()
    expect(page.get_by_role("table").filter(has_text="By severity").first).to_be_visible()

    page.get_by_label("Team").select_option(label="Payments")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/insights?**team=**")
    expect(figure(page, "Incidents")).to_have_text("2")
    expect(page.get_by_text("team Payments")).to_be_visible()

    figure(page, "MTTR").get_by_role("link").click()
    expect(
        page.get_by_role("heading", name="Incidents behind the figure: time to resolve")
    ).to_be_visible()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(3)  # the header, B (4 h), A (70 min)
    expect(rows.nth(1)).to_contain_text("4 h 00 min")
    expect(rows.nth(2)).to_contain_text("1 h 10 min")


def test_the_figures_and_charts_need_no_javascript(
    db: Session,
    admin: User,
    history: dict[str, Incident],  # noqa: F811
    live_server: str,
    chromium,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        login(page, live_server, admin.email, ADMIN_PASSWORD)
        page.goto(f"{live_server}/insights?{MARCH}&team=999")
        expect(page.get_by_role("alert")).to_have_text("there is no team '999'")
        page.goto(f"{live_server}/insights?{MARCH}")
        expect(page.get_by_role("img", name="Incidents by severity")).to_be_visible()
        sev1 = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="SEV1"))
        expect(sev1.first).to_contain_text("47 min")  # SEV1 MTTA median (5 and 90 minutes)
    finally:
        context.close()
