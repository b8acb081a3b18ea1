"""Heartbeats: a sender pings `/heartbeat/{key}`; when pings stop, an alert opens.

The periodic job `alerts.check_heartbeats` checks every few seconds (once across all
workers). A heartbeat is missed when no ping arrived for its interval plus grace (counted
from its creation until the first ping); it opens one alert with the dedup key
`heartbeat`, and the next ping resolves it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.apply import HEARTBEAT_KEY, Applier
from tocsin.alerts.heartbeat_config import DEFAULTS
from tocsin.alerts.models import Event, Integration, IntegrationType, Outcome
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import event_row, wait_for_apply_lock
from tocsin.db import utcnow


def deadline(integration: Integration) -> datetime:
    config = {**DEFAULTS, **(integration.config or {})}
    since = integration.last_event_at or integration.created_at
    return since + timedelta(seconds=config["interval_seconds"] + config["grace_seconds"])


def check_heartbeats(session: Session, now: datetime) -> int:
    """Open an alert for every heartbeat past its deadline without one; returns how many."""
    opened = 0
    heartbeats = session.scalars(
        select(Integration).where(
            Integration.type == IntegrationType.heartbeat.value,
            Integration.disabled_at.is_(None),
        )
    ).all()
    for integration in heartbeats:
        if now <= deadline(integration):
            continue
        applier = Applier(session)
        if applier.open_alert(integration.id, HEARTBEAT_KEY) is not None:
            continue
        config = {**DEFAULTS, **(integration.config or {})}
        since = integration.last_event_at
        when = f"since {since:%Y-%m-%d %H:%M:%S} UTC" if since else "since it was created"
        event = ParsedEvent(
            routing_key="",
            action="trigger",
            dedup_key=HEARTBEAT_KEY,
            summary=f"Heartbeat {integration.name!r} missed: no ping {when}",
            severity=config["severity"],
            source="tocsin heartbeat monitor",
            details={"interval_seconds": config["interval_seconds"], "last_ping": str(since)},
        )
        stored = Event(**event_row(integration.id, event, raw=None, received_at=now))
        stored.outcome = Outcome.pending.value
        session.add(stored)
        session.flush()
        applier.apply_all([stored])
        opened += 1
    return opened


def check_heartbeats_job(session: Session, payload: dict[str, Any]) -> None:
    """The `alerts.check_heartbeats` job: check now, applying as the event processor would."""
    wait_for_apply_lock(session)
    check_heartbeats(session, utcnow())
