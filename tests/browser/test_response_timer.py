"""The response timer counts down in the browser: the page's clock is moved forward, and the
script turns "due in …" into amber, then into "missed by …", without reloading."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service

pytestmark = pytest.mark.browser


def test_the_countdown_runs_without_reloading(
    db: Session,
    admin: User,
    live_server: str,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    sev1 = db.scalars(select(Severity).where(Severity.name == "SEV1")).one()
    now = utcnow()
    incident = service.declare(
        db, by=admin, title="Checkout errors", severity_id=sev1.id,
        detected_at=now - timedelta(minutes=30), urgency="none",
    )  # fmt: skip
    db.commit()
    page = new_page()
    page.clock.install(time=now)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/incidents/{incident.reference}")
    timer = page.locator("#response-timer time")
    expect(timer).to_have_text(re.compile(r"^due in (29|30) min$"))
    expect(timer).to_have_class(re.compile(r"\bresponse-pending\b"))
    page.clock.fast_forward("20:00")  # 50 of 60 minutes gone: past 80%
    expect(timer).to_have_text(re.compile(r"^due in (9|10) min$"))
    expect(timer).to_have_class(re.compile(r"\bresponse-warning\b"))
    page.clock.fast_forward("15:00")
    expect(timer).to_have_text(re.compile(r"^missed by (4|5) min$"))
    expect(timer).to_have_class(re.compile(r"\bresponse-missed\b"))
    assert errors == []
