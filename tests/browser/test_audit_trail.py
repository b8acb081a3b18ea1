"""In Chromium: an admin renames a service in Settings, and finds the change in Settings →
Audit trail with its old and new name, who made it and from where."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User


def test_a_rename_is_found_in_the_audit_trail(
    live_server: str,
    new_page,
    db: Session,
    admin: User,  # type: ignore[no-untyped-def]
) -> None:
    catalog.create_service(db, name="pay")
    db.commit()
    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/settings/services")
    row = page.locator("tr", has_text="pay")
    row.locator("summary", has_text="Edit").click()
    row.get_by_label("Name").fill("checkout")
    row.get_by_role("button", name="Save service").click()
    page.wait_for_url(f"{live_server}/settings/services**")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Audit trail").click()
    page.wait_for_url(f"{live_server}/settings/audit")
    page.get_by_role("link", name="Verify the chain").click()
    page.wait_for_url("**verify=1**")
    assert "The chain verifies" in page.locator("#audit-verdict").inner_text()
    page.get_by_label("Action starts with").fill("config.service")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**action=config.service**")
    records = page.locator("tr.audit-record")
    assert records.count() == 2  # created (by the test, as Tocsin), then renamed
    renamed = records.first
    assert "config.service.updated" in renamed.inner_text()
    assert admin.email in renamed.inner_text()
    assert "127.0.0.1" in renamed.inner_text()
    change = renamed.locator("table.audit-detail tbody tr")
    assert [c.strip().lower() for c in change.first.locator("th, td").all_inner_texts()] == [
        "name",
        "pay",
        "checkout",
    ]
