"""Demo subscribers on the first status page: confirmed and unconfirmed email addresses, page
wide and per component, and a quarantined webhook. Runs only once a status page exists (the
status pages' demo makes it), and only once per page.

The webhook's address is a made-up one under a reserved domain (RFC 2606): it is kept
quarantined, so that the demo never sends it deliveries that could only fail."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import service
from tocsin.subscribers.checks import Request
from tocsin.subscribers.models import Subscriber


def seed_subscribers(session: Session, admin: User, settings: Settings | None = None) -> int:
    """Add the demo subscribers; returns how many (0 without a page or if already there)."""
    page = session.scalar(select(StatusPage).order_by(StatusPage.id).limit(1))
    if page is None:
        return 0
    if session.scalar(select(Subscriber.id).where(Subscriber.page_id == page.id).limit(1)):
        return 0
    settings = settings or Settings()
    first = tuple(c.id for c in page.components[:1])
    # Requests are built here rather than checked with `check_request`: the demo's webhook
    # host is a placeholder that does not resolve.
    wanted = [
        (Request("email", "ops-lead@example.org", ()), True),
        (Request("email", "cto@example.org", first), True),
        (Request("email", "customer@example.net", ()), False),  # waits for its confirmation
        (Request("email", "status-digest@example.org", ()), True),
        (Request("webhook", "https://old-dashboard.example.net/statuspage-hook", first), True),
    ]
    made = []
    for request, skip in wanted:
        outcome = service.subscribe(
            session, page, request, settings=settings, by=admin, skip_confirmation=skip
        )
        made.append(outcome.subscriber)
    service.quarantine(
        session,
        made[-1],
        reason="10 failed deliveries in a row over two days; last: "
        "old-dashboard.example.net answered HTTP 503 (a demo placeholder: the address is made "
        "up, so it stays quarantined; put your own receiver's URL in a new subscriber)",
        tell_owner=False,
    )
    return len(made)
