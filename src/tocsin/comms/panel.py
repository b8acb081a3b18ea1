"""What the incident page's Communication card (and its API twin) shows: the channels that
apply, who may post to each, when each last got an update and when the next is due, the
stakeholders, and every delivery with its result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User, UserRole
from tocsin.comms.due import Due, dues
from tocsin.comms.models import CommsChannel, CommsDelivery, Stakeholder
from tocsin.comms.rules import conditions_text, may_post, posters_text
from tocsin.comms.sending import deliveries_for
from tocsin.comms.stakeholders import following, may_see, stakeholders_of
from tocsin.db import utcnow
from tocsin.incidents.models import Incident


@dataclass(frozen=True)
class ChannelRow:
    channel: CommsChannel
    due: Due
    overdue: bool
    can_post: bool  # the viewer may post (or mark posted) here
    posters: str
    conditions: str
    last: CommsDelivery | None  # the latest delivery to it, whatever became of it


def channel_rows(
    session: Session,
    incident: Incident,
    viewer: User | None,
    deliveries: list[CommsDelivery],
    now: datetime,
) -> list[ChannelRow]:
    latest: dict[int, CommsDelivery] = {}
    for d in deliveries:  # newest first
        if d.channel_id is not None and d.user_id is None and d.channel_id not in latest:
            latest[d.channel_id] = d
    return [
        ChannelRow(
            channel=due.channel,
            due=due,
            overdue=due.overdue(now),
            can_post=viewer is not None and may_post(due.channel, incident, viewer),
            posters=posters_text(due.channel),
            conditions=conditions_text(due.channel),
            last=latest.get(due.channel.id),
        )
        for due in dues(session, incident)
    ]


def panel_context(
    session: Session, incident: Incident, viewer: User | None, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the Communication card needs."""
    now = now or utcnow()
    deliveries = deliveries_for(session, incident, limit=100)
    mine: Stakeholder | None = following(session, incident, viewer) if viewer else None
    return {
        "channels": channel_rows(session, incident, viewer, deliveries, now),
        "stakeholders": stakeholders_of(session, incident),
        "mine": mine,
        "can_follow": viewer is not None and may_see(incident, viewer),
        "can_manage": viewer is not None and viewer.can(UserRole.responder),
        "deliveries": deliveries,
        "teams": session.scalars(select(Team).order_by(Team.name)).all(),
        "now": now,
    }
