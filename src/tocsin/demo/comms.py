"""Demo communication: the company's channel sheet (a Slack channel paused so the demo sends
nothing, the exec briefing posted to by hand, the customer support list) and an incident that
people follow, with the exec briefing marked as posted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User
from tocsin.comms import service as registry
from tocsin.comms import stakeholders
from tocsin.comms.sending import mark_posted
from tocsin.incidents.models import Incident

FOLLOWED = "Public API returning 502 for a share of requests"
# Slack's incoming-webhook form, with made-up tokens: the channel is paused in the demo.
DEMO_SLACK = "slack://T00000000/B00000000/DemoTokenDemoTokenDemo00/#incidents"


def seed_comms(session: Session, people: dict[str, User], teams: dict[str, Team]) -> None:
    registry.create_channel(session, {
        "name": "#incidents",
        "kind": "apprise",
        "target": DEMO_SLACK,
        "paused": True,
        "description": "Where engineering follows SEV1 and SEV2 incidents. Paused in the demo "
        "(its URL is made up): put your Slack webhook URL here and unpause it.",
        "severities": ["SEV1", "SEV2"],
        "cadence_minutes": 30,
        "position": 1,
    })  # fmt: skip
    briefing, _ = registry.create_channel(session, {
        "name": "Exec briefing",
        "kind": "manual",
        "description": "The leadership team, for incidents that could make the news.",
        "instructions": "Call the CEO's office on +44 20 7946 0000, or message the exec team "
        "thread if nobody answers. Give the summary, the customer impact and the next "
        "update time from the incident page.",
        "severities": ["SEV1", "SEV2"],
        "post_incident_roles": ["incident_commander", "comms_internal"],
        "cadence_minutes": 60,
        "position": 2,
    })  # fmt: skip
    registry.create_channel(session, {
        "name": "Customer support list",
        "kind": "email",
        "target": "support@example.com",
        "audience": "external",
        "description": "Support agents answer customers from these updates.",
        "services": ["Checkout", "Payment Gateway", "Public API"],
        "post_incident_roles": ["incident_commander", "comms_external"],
        "position": 3,
    })  # fmt: skip
    incident = session.scalar(select(Incident).where(Incident.title == FOLLOWED))
    if incident is None:
        return
    stakeholders.follow(session, incident, by=people["claire"])
    stakeholders.add(session, incident, by=people["admin"], team_id=teams["Customer Support"].id)
    note = "Told the CEO's office: some API customers see errors; rollback under way."
    mark_posted(session, incident, briefing, by=people["admin"], note=note)
