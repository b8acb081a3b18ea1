"""At phone width (390 px) the busiest pages fit: nothing makes the page scroll sideways (the
schedule's timeline scrolls inside its own box)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.bootstrap import Container
from tocsin.demo.seed import seed_demo
from tocsin.incidents.models import Incident
from tocsin.schedules.models import Schedule

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844


@pytest.fixture
def demo(db: Session, container: Container) -> Session:
    """The demo organisation: schedules with layers and overrides, incidents with roles,
    updates, paging, communication and status pages, alerts."""
    seed_demo(db, "admin@example.com", ADMIN_PASSWORD)
    db.commit()
    container.runner(name="test").run_until_idle()
    db.rollback()
    return db


def _scroll_width(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.evaluate("document.documentElement.scrollWidth"))


def _wide(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What sticks out past the viewport, to say why a page overflows."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
             .filter(e => !e.closest('.scroll'))
             .slice(0, 12)
             .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                       + (e.className && e.className.baseVal === undefined ? '.' + e.className : '')
                       + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )


def test_schedule_incident_and_alert_pages_fit_a_phone(
    demo: Session,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    schedule = demo.scalars(select(Schedule.id).order_by(Schedule.id)).first()
    busiest = demo.scalars(select(Incident).order_by(Incident.number)).all()
    page = new_page(WIDTH, HEIGHT)
    # Many pages in a row on a shared machine: a slow one is not what this test is about.
    page.set_default_navigation_timeout(30_000)
    login(page, live_server, "admin@example.com", ADMIN_PASSWORD)
    schedules = demo.scalars(select(Schedule.id).order_by(Schedule.id)).all()
    paths = [f"/schedules/{i}" for i in schedules] + [f"/schedules/{schedule}?days=28"]
    paths += [f"/incidents/{i.reference}" for i in busiest]
    paths += ["/alerts", "/alerts?status=all", "/incidents/new", "/plan"]
    too_wide = {}
    for path in paths:
        page.goto(live_server + path)
        assert page.evaluate("window.innerWidth") == WIDTH
        # Folded forms too (editing a layer, assigning a role, …): opened, they stack.
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        width = _scroll_width(page)
        if width > WIDTH:
            too_wide[path] = (width, _wide(page))
    assert not too_wide, too_wide

    # The schedule's timeline is still all there: its own box scrolls sideways.
    page.goto(f"{live_server}/schedules/{schedule}")
    box = page.locator("#timeline").locator("xpath=ancestor::div[contains(@class,'scroll')][1]")
    expect(box).to_be_visible()
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    assert box.evaluate("b => b.scrollLeft") > 0
    assert _scroll_width(page) <= WIDTH
