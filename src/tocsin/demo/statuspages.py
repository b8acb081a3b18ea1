"""The demo's public status page, "Acme Status": grouped components linked to the demo's
services, a past incident with its updates (published from a Tocsin incident), the ongoing
API incident, and a scheduled database upgrade."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.statuspages import maintenance, publish, service

LAYOUT = [
    ("Shopping", "Browsing, search and paying.", ["Checkout", "Payment Gateway", "Search"]),
    ("Platform", "What customers' own systems use.", ["Public API", "Notifications"]),
]


def seed_statuspages(
    session: Session, people: dict[str, User], teams: dict[str, Team], services: dict[str, Service]
) -> None:
    now = utcnow()
    admin = people["admin"]
    page = service.create_page(
        session,
        {
            "name": "Acme Status",
            "slug": "acme",
            "description": "Live status of the Acme shop and its APIs. Subscribe to hear about "
            "incidents and maintenance as they happen.",
            "time_zone": "Europe/London",
            "owner_team_id": teams["Platform"].id,
            "owner_user_id": people["priya"].id,
        },
    )
    start = (now - timedelta(days=120)).date()
    components = {}
    for group_name, description, names in LAYOUT:
        group = service.create_group(
            session, page, {"name": group_name, "description": description}
        )
        for name in names:
            components[name] = service.create_component(
                session,
                page,
                {"name": name, "group_id": group.id, "service_id": services[name].id,
                 "start_date": start},
            )  # fmt: skip
    components["Help Centre"] = service.create_component(
        session,
        page,
        {"name": "Help Centre", "service_id": services["Help Centre"].id, "start_date": start,
         "description": "help.example.com"},
    )  # fmt: skip

    Step = tuple[timedelta, str, str, dict[str, str]]

    def backfill(title: str, started: datetime, steps: list[Step], names: list[str]) -> None:
        incident = incidents.declare(
            session, by=admin, title=title, started_at=started, detected_at=started,
            service_ids=[services[n].id for n in names],
        )  # fmt: skip
        for offset, phase, body, statuses in steps:
            draft = publish.check(
                session, page, incident, phase=phase, body=body, display_at=started + offset,
                components={components[n].id: s for n, s in statuses.items()},
            )  # fmt: skip
            publish.publish(session, draft, by=people["sofia"])
        # Published now, but it happened then: put the incident's own times back.
        incidents.edit_timestamps(
            session,
            incident,
            {"acknowledged_at": started + steps[0][0], "resolved_at": started + steps[-1][0]},
            by=admin,
        )

    backfill(
        "Card payments failing for some customers",
        now - timedelta(days=12, hours=5),
        [
            (timedelta(minutes=4), "investigating",
             "Some card payments are failing at checkout. We are investigating.",
             {"Payment Gateway": "major_outage", "Checkout": "partial_outage"}),
            (timedelta(minutes=35), "identified",
             "A certificate expired at one of our card processors. We are switching to the "
             "backup processor.", {"Payment Gateway": "partial_outage"}),
            (timedelta(hours=1, minutes=10), "monitoring",
             "Payments go through the backup processor. We are watching the error rate.",
             {"Payment Gateway": "degraded_performance", "Checkout": "operational"}),
            (timedelta(hours=1, minutes=40), "resolved",
             "Card payments work normally again. Payments that failed can be retried.", {}),
        ],
        ["Payment Gateway", "Checkout"],
    )  # fmt: skip
    backfill(
        "Slow search results",
        now - timedelta(days=41, hours=2),
        [
            (timedelta(minutes=10), "identified",
             "Search is slower than usual after an index rebuild.",
             {"Search": "degraded_performance"}),
            (timedelta(hours=3), "resolved", "Search is back to its usual speed.", {}),
        ],
        ["Search"],
    )  # fmt: skip

    # The demo's ongoing incident: its first external update, as its comms lead would post it.
    ongoing = session.scalar(
        select(Incident).where(Incident.title == "Public API returning 502 for a share of requests")
    )
    if ongoing is not None:
        draft = publish.check(
            session, page, ongoing, phase="investigating", name="Errors on the public API",
            body="Some API requests fail with a 502 error. We are investigating and will update "
            "this page within 30 minutes.",
            components={components["Public API"].id: "partial_outage"},
        )  # fmt: skip
        publish.publish(session, draft, by=people["kenji"])

    upgrade = (now + timedelta(days=3)).replace(hour=6, minute=0, second=0, microsecond=0)
    maintenance.schedule(
        session,
        page,
        {
            "name": "Database upgrade",
            "scheduled_for": upgrade,
            "scheduled_until": upgrade + timedelta(hours=1),
            "component_ids": [components["Checkout"].id, components["Public API"].id],
            "remind_minutes": 60,
        },
        body="We are upgrading our main database. Checkout and the API may be read-only for "
        "a few minutes during the window.",
        by=people["priya"],
    )
