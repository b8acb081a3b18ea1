"""Demo escalation policies: each service pages through its team's schedule, then the team;
Security waits for office hours on low urgency; Customer Support notifies without escalating."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.escalation import policies
from tocsin.schedules.models import Schedule

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _schedule(session: Session, name: str) -> int:
    found = session.scalar(select(Schedule.id).where(Schedule.name == name))
    assert found is not None, name
    return found


def seed_escalation(
    session: Session,
    people: dict[str, User],
    teams: dict[str, Team],
    services: dict[str, Service],
) -> None:
    def schedule(name: str) -> dict[str, Any]:
        return {"kind": "schedule", "id": _schedule(session, name)}

    def team(name: str) -> dict[str, Any]:
        return {"kind": "team", "id": teams[name].id}

    def user(key: str) -> dict[str, Any]:
        return {"kind": "user", "id": people[key].id}

    platform = policies.create_policy(
        session,
        name="Platform",
        description="The Platform rota, then its lead, then the whole team; twice.",
        repeat=1,
        team_id=teams["Platform"].id,
        levels=[
            {"delay_minutes": 5, "targets": [schedule("Platform primary")]},
            {"delay_minutes": 10, "targets": [user("admin")]},
            {"delay_minutes": 15, "targets": [team("Platform")]},
        ],
    )
    payments = policies.create_policy(
        session,
        name="Payments",
        description="Whoever is on call around the sun, then the Payments team in turn.",
        team_id=teams["Payments"].id,
        levels=[
            {"delay_minutes": 5, "targets": [schedule("Payments follow-the-sun")]},
            {"delay_minutes": 10, "round_robin": True, "targets": [team("Payments")]},
        ],
    )
    security = policies.create_policy(
        session,
        name="Security",
        description="Office hours rota; out of hours the Platform rota covers.",
        team_id=teams["Security"].id,
        levels=[
            {"delay_minutes": 10, "targets": [schedule("Security business hours")]},
            {"delay_minutes": 10, "targets": [schedule("Platform primary"), user("arjun")]},
        ],
    )
    support = policies.create_policy(
        session,
        name="Customer Support",
        description="The support team, in office hours only; then Platform.",
        team_id=teams["Customer Support"].id,
        levels=[
            {
                "delay_minutes": 15,
                "targets": [team("Customer Support")],
                "window": {
                    "days": WEEKDAYS,
                    "start": "08:00",
                    "end": "18:00",
                    "timezone": "Europe/Stockholm",
                },
            },
            {"delay_minutes": 15, "targets": [schedule("Platform primary")]},
        ],
    )
    office = {"days": WEEKDAYS, "start": "09:30", "end": "18:00", "timezone": "Asia/Kolkata"}
    for name, policy, low, hours in [
        ("Checkout", payments, "notify", None),
        ("Payment Gateway", payments, "page", None),
        ("Public API", platform, "notify", None),
        ("PostgreSQL (primary)", platform, "page", None),
        ("Search", platform, "notify", None),
        ("Notifications", platform, "notify", None),
        ("Help Centre", support, "notify", None),
        ("Single Sign-On", security, "support_hours", office),
    ]:
        policies.set_service_paging(
            session, services[name], policy_id=policy.id, low_urgency=low, support_hours=hours
        )
