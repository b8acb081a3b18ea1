"""Demo service followers: the Customer Support team follows Checkout and the Payment Gateway
(so it becomes a stakeholder of their incidents), and Claire, a viewer, follows Single
Sign-On (whose security incident is restricted: she is not added, and the timeline says so).
Seeded before the demo's incidents are declared, so they pick the followers up."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.comms import followers


def seed_followers(
    session: Session, people: dict[str, User], teams: dict[str, Team], services: dict[str, Service]
) -> None:
    support = teams["Customer Support"]
    for name in ("Checkout", "Payment Gateway"):
        followers.add_follower(session, services[name], by=people["admin"], team_id=support.id)
    followers.follow_service(session, services["Single Sign-On"], by=people["claire"])
