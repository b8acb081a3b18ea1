"""A follow-up's priority and tags, edited in place on the follow-up list."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog.models import User
from tocsin.incidents import actions
from tocsin.incidents import service as incidents

pytestmark = pytest.mark.browser


def test_priority_and_tags_are_edited_on_the_follow_up_list(
    db: Session,
    admin: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    incident = incidents.declare(db, by=admin, title="Disk full on db-1")
    actions.add_action_item(
        db, incident, title="Grow the disk", kind="follow_up", tags=["db"], by=admin
    )
    db.commit()
    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/follow-ups?tag=db")
    row = page.get_by_role("row").filter(has_text="Grow the disk")
    row.get_by_text("Edit priority and tags").click()
    row.get_by_label("Priority").select_option("high")
    tags = row.get_by_label("Tags")
    expect(tags).to_have_value("db")
    tags.fill("db, storage")
    row.get_by_role("button", name="Save").click()

    page.wait_for_url(f"{live_server}/follow-ups?tag=db")  # the same filtered list
    expect(page.get_by_role("status")).to_have_text("Action item saved.")
    row = page.get_by_role("row").filter(has_text="Grow the disk")
    expect(row.get_by_role("cell").nth(3)).to_have_text("high")
    expect(row.get_by_role("link", name="storage")).to_be_visible()

    row.get_by_text("Edit priority and tags").click()
    row.get_by_label("Tags").fill("db <script>")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("tag “<script>” may hold only letters")
    row = page.get_by_role("row").filter(has_text="Grow the disk")
    expect(row.get_by_role("link", name="storage")).to_be_visible()  # nothing changed
