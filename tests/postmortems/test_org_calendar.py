"""The organisation's working week and time zone (TOCSIN_WORKING_DAYS, TOCSIN_ORG_TIMEZONE)
decide the deadlines of the postmortem a resolved incident gets, through the bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.postmortems.conftest import incident_of, resolve_at
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.postmortems.models import Postmortem


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"org_timezone": "America/New_York", "working_days": "mon-thu"}
    )


def test_sev2_deadlines_follow_the_organisations_week_and_zone(db: Session, admin: User) -> None:
    """Resolved Friday 02:00 UTC, which is Thursday 21:00 in New York. Five working days of
    a Monday-to-Thursday week later: Mon, Tue, Wed, Thu, Mon: Monday 14 December 21:00 New
    York time, 02:00 UTC on the Tuesday."""
    resolved = datetime(2026, 12, 4, 2, tzinfo=UTC)
    incident = incident_of(db, admin, "SEV2", started=resolved - timedelta(hours=1))
    resolve_at(db, incident, admin, resolved)
    postmortem = db.scalars(select(Postmortem).where(Postmortem.incident_id == incident.id)).one()
    assert postmortem.meeting_due_at == datetime(2026, 12, 15, 2, tzinfo=UTC)
    assert postmortem.draft_due_at == datetime(2026, 12, 14, 2, tzinfo=UTC)


def test_settings_refuse_an_unknown_zone_or_day() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(org_timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        Settings(working_days="monday-friday")
