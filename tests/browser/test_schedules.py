"""Picking an override's range on a schedule's timeline in a real browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.schedules import service

pytestmark = pytest.mark.browser


def _client_x(box: dict, when: datetime, start: datetime, days: int) -> float:  # type: ignore[type-arg]
    """Where `when` is on screen: the SVG is 1200 units wide, the track 170..1200."""
    fraction = (when - start).total_seconds() / (days * 86400)
    return box["x"] + (170 + fraction * 1030) * box["width"] / 1200


def test_drag_and_click_on_the_timeline_fill_an_override(
    live_server: str,
    new_page,
    responder: User,
    db: Session,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    ann = catalog.create_user(db, name="Ann Example", email="ann@example.com")
    today = datetime.now(UTC).date()
    schedule = service.create_schedule(db, name="Primary")
    service.add_layer(db, schedule, {"name": "Weekly", "timezone": "UTC",
                                     "start_date": today - timedelta(days=3),
                                     "member_ids": [ann.id]})  # fmt: skip
    db.commit()
    page = new_page()
    login(page, live_server, responder.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/schedules/{schedule.id}?start={today}&days=7")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Ann Example")
    box = timeline.bounding_box()
    assert box is not None
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    tomorrow = today + timedelta(days=1)
    y = box["y"] + 40 * box["width"] / 1200
    x_from = _client_x(box, start + timedelta(days=1, hours=10), start, 7)
    x_to = _client_x(box, start + timedelta(days=1, hours=16), start, 7)

    # Drag across the final schedule: From and To are filled in (the viewer's zone, UTC).
    page.mouse.move(x_from, y)
    page.mouse.down()
    page.mouse.move(x_to, y, steps=8)
    page.mouse.up()
    start_value = page.locator("#override-start").input_value()
    end_value = page.locator("#override-end").input_value()
    assert start_value.startswith(f"{tomorrow}T") and end_value.startswith(f"{tomorrow}T")
    picked = datetime.fromisoformat(start_value), datetime.fromisoformat(end_value)
    assert abs(picked[0].hour * 60 + picked[0].minute - 600) <= 30
    assert abs(picked[1].hour * 60 + picked[1].minute - 960) <= 30

    # Or click a start, then an end.
    x_later = _client_x(box, start + timedelta(days=2, hours=20), start, 7)
    page.mouse.click(x_from, y)
    page.mouse.click(x_later, y)
    assert page.locator("#override-end").input_value().startswith(str(today + timedelta(days=2)))
    expect(page.locator("#timeline-hint")).to_contain_text("Override from")

    page.get_by_label("Note").fill("Ann is travelling")
    page.get_by_role("button", name="Add override").click()
    expect(page.locator(".flash")).to_contain_text("Override added")
    expect(page.locator("#overrides")).to_contain_text("Rita Responder")
    expect(page.locator("#overrides")).to_contain_text("Ann is travelling")
    expect(page.locator("#timeline .tl-override").first).to_be_visible()
