"""What a dry run takes into account: time zones and daylight saving, support hours and low
urgency, maintenance windows, the channels due an update; and the moment it is asked about."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.escalation.conftest import Org
from tocsin.alerts import service as alerts
from tocsin.comms import service as registry
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.errors import NotFound, ValidationFailed
from tocsin.escalation import policies
from tocsin.schedules import service as schedules
from tocsin.simulation.moment import parse_moment
from tocsin.simulation.service import simulate
from tocsin.simulation.workflows import workflows_that_would_run

LONDON = "Europe/London"


def _london_rotation(db: Session, org: Org) -> None:
    """Ann and Bob hand over daily at 09:00 London time, from 20 October 2026."""
    london = schedules.create_schedule(db, name="London", timezone=LONDON)
    schedules.add_layer(
        db,
        london,
        {
            "name": "Days",
            "shift_length": 1,
            "shift_unit": "days",
            "handoff_time": "09:00",
            "start_date": date(2026, 10, 20),
            "member_ids": [org.ann.id, org.bob.id],
        },
    )
    policy = policies.create_policy(
        db,
        name="London",
        levels=[
            {"delay_minutes": 120, "targets": [{"kind": "schedule", "id": london.id}]},
            {"delay_minutes": 5, "targets": [{"kind": "user", "id": org.carol.id}]},
        ],
    )
    policies.set_service_paging(db, org.service, policy_id=policy.id)
    db.commit()


def _first(db: Session, at: str) -> tuple[str, datetime]:
    moment, _ = parse_moment(at, now=datetime(2026, 12, 7, tzinfo=UTC))
    sim = simulate(db, service="Checkout", at=moment, timezone=LONDON)
    level = sim.runs[0].levels[0]
    return level.people[0].name, level.at


def test_handoffs_follow_the_schedules_zone_across_the_end_of_summer_time(
    db: Session, org: Org
) -> None:
    """Clocks go back in London at 02:00 on 25 October 2026: the 09:00 handoff stays at 09:00
    local (08:00 UTC before, 09:00 UTC after)."""
    _london_rotation(db, org)
    assert _first(db, "2026-10-24T08:30 Europe/London") == (
        "Bob",
        datetime(2026, 10, 24, 7, 30, tzinfo=UTC),
    )
    assert _first(db, "2026-10-24T09:30 Europe/London")[0] == "Ann"
    # 08:30 UTC on the 25th is past 08:00 UTC, but still before the 09:00 local handoff.
    assert _first(db, "2026-10-25T08:30 Europe/London") == (
        "Ann",
        datetime(2026, 10, 25, 8, 30, tzinfo=UTC),
    )
    assert _first(db, "2026-10-25T09:30 Europe/London")[0] == "Bob"


def test_a_levels_delay_is_real_minutes_across_the_change(db: Session, org: Org) -> None:
    """00:30 summer time, two hours' wait: level 2 comes at 01:30 winter time, which is two
    hours later, not 02:30."""
    _london_rotation(db, org)
    moment, _ = parse_moment(
        "2026-10-25T00:30 Europe/London", now=datetime(2026, 12, 7, tzinfo=UTC)
    )
    sim = simulate(db, service="Checkout", at=moment, timezone=LONDON)
    first, second = sim.runs[0].levels
    assert second.at - first.at == timedelta(hours=2)
    assert second.at == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 01:30 GMT


def test_low_urgency_outside_support_hours_waits_for_them(db: Session, org: Org) -> None:
    policies.set_service_paging(
        db,
        org.service,
        policy_id=org.policy.id,
        low_urgency="support_hours",
        support_hours={"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                       "end": "17:00", "timezone": LONDON},
    )  # fmt: skip
    db.commit()
    # Christmas Day 2026 is a Friday: 03:00 waits until 09:00 London (09:00 UTC in winter).
    moment, zone = parse_moment(
        "2026-12-25T03:00 Europe/London", now=datetime(2026, 12, 7, tzinfo=UTC)
    )
    sim = simulate(db, service="Checkout", severity="SEV4", at=moment, timezone=zone)
    assert sim.urgency == "low" and zone == LONDON
    (run,) = sim.runs
    assert run.starts_at == datetime(2026, 12, 25, 9, 0, tzinfo=UTC)
    assert "outside support hours" in run.start
    assert run.levels[0].at == run.starts_at
    # High urgency does not wait.
    high = simulate(db, service="Checkout", severity="SEV4", urgency="high", at=moment)
    assert high.runs[0].levels[0].at == moment


def test_low_urgency_notify_pages_the_first_level_only(db: Session, org: Org) -> None:
    sim = simulate(db, service="Checkout", urgency="low", at=utcnow())
    (run,) = sim.runs
    assert len(run.levels) == 1 and run.levels[0].people
    assert "without escalation" in run.start


def test_maintenance_and_channels_due_an_update(db: Session, settings: Settings, org: Org) -> None:
    now = utcnow()
    window = alerts.start_maintenance(
        db, service_id=org.service.id, by=None, ends_at=now + timedelta(hours=1),
        reason="database upgrade",
    )  # fmt: skip
    registry.create_channel(
        db, {"name": "#sev-bridge", "kind": "manual", "instructions": "Join the bridge.",
             "severities": ["SEV1", "SEV2"], "cadence_minutes": 30}, settings=settings,
    )  # fmt: skip
    registry.create_channel(
        db, {"name": "#sev1-only", "kind": "manual", "instructions": "Exec room.",
             "severities": ["SEV1"]}, settings=settings,
    )  # fmt: skip
    db.commit()
    sim = simulate(db, service="Checkout", severity="SEV2", at=utcnow())
    assert [c.name for c in sim.channels] == ["#sev-bridge"]
    assert sim.channels[0].due_at == sim.at + timedelta(minutes=30)
    assert sim.channels[0].because == "every 30 min"
    assert sim.workflows == []  # the seeded workflows start disabled
    assert f"maintenance window {window.id} (database upgrade)" in sim.maintenance
    assert "an incident declared by hand pages as shown" in sim.maintenance
    assert not sim.nobody  # a declared incident still pages
    later = simulate(db, service="Checkout", severity="SEV2", at=now + timedelta(hours=2))
    assert later.maintenance == ""


def test_workflows_extension_point_is_empty_while_no_workflow_is_enabled(db: Session) -> None:
    assert workflows_that_would_run(db, None) == []  # type: ignore[arg-type]


def test_unknown_names_are_refused(db: Session, org: Org) -> None:
    with pytest.raises(NotFound, match="no service named 'Nope'"):
        simulate(db, service="Nope", at=utcnow())
    with pytest.raises(NotFound, match="no severity named 'SEV9'"):
        simulate(db, service="Checkout", severity="SEV9", at=utcnow())
    with pytest.raises(NotFound, match="no incident type named"):
        simulate(db, service="Checkout", incident_type="Nope", at=utcnow())


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected", "zone"),
    [
        ("2026-12-25T03:00 Europe/London", datetime(2026, 12, 25, 3, 0, tzinfo=UTC), LONDON),
        ("2026-07-01T03:00 Europe/London", datetime(2026, 7, 1, 2, 0, tzinfo=UTC), LONDON),
        ("2026-12-25 03:00 America/New_York", datetime(2026, 12, 25, 8, 0, tzinfo=UTC),
         "America/New_York"),
        ("2026-12-25T03:00+01:00", datetime(2026, 12, 25, 2, 0, tzinfo=UTC), "UTC"),
        ("2026-12-25T03:00Z", datetime(2026, 12, 25, 3, 0, tzinfo=UTC), "UTC"),
        ("2026-12-25T03:00", datetime(2026, 12, 25, 3, 0, tzinfo=UTC), "UTC"),
        ("now", NOW, "UTC"),
        ("", NOW, "UTC"),
    ],
)  # fmt: skip
def test_moments(text: str, expected: datetime, zone: str) -> None:
    assert parse_moment(text, now=NOW) == (expected, zone)


def test_a_time_without_a_zone_is_read_in_the_one_given() -> None:
    assert parse_moment("2026-12-25T03:00", "Asia/Tokyo", now=NOW) == (
        datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
        "Asia/Tokyo",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-25T03:00 Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("Christmas morning", "not a date and time"),
        ("2026-13-01T03:00", "not a date and time"),
        ("2026-03-29T01:30 Europe/London", "does not exist in Europe/London"),
        ("2026-12-25T03:00+01:00 Europe/London", "not both"),
        ("9999-12-31T23:59 Pacific/Kiritimati", "at most five years"),
        ("0001-01-01T00:00 America/New_York", "at most five years"),
        ("0001-01-01T00:00+01:00", "out of range"),
    ],
)
def test_bad_moments_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_moment(text, now=NOW)
