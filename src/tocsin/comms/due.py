"""When each channel is due its next update, and the reminder when it is late.

A channel that applies to an open incident is due an update:
- a cadence after an update last reached it (or after the incident was declared, if none
  has), when the channel has a cadence; and
- at the time the latest update of the channel's audience promised (`next_update_at`),
  unless something reached the channel after that update was posted;
whichever comes first. What reached a channel counts from when the update was posted (a
retried send does not shift the cadence); a post marked by hand counts from when it was marked.

The periodic `comms.scan` queues a `comms.due` job at each due time (a little ahead, keyed
by incident, channel and due time, so it exists once). At its time the job looks again: if
an update reached the channel meanwhile, the due time has moved and it does nothing;
otherwise it writes a reminder on the timeline and tells the communications manager for
the channel's audience (or the commander, or whoever declared the incident), once, with a
plain notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import User
from tocsin.comms.models import (
    Audience,
    CommsChannel,
    CommsDelivery,
    DeliveryPurpose,
    DeliveryState,
)
from tocsin.comms.rules import applies, posters_text
from tocsin.comms.sending import insert_once, latest_update, plan
from tocsin.comms.service import list_channels
from tocsin.comms.stakeholders import may_see
from tocsin.db import utcnow
from tocsin.incidents.models import OPEN_STATUSES, Incident, StatusUpdate
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue

DUE_JOB = "comms.due"
SCAN_JOB = "comms.scan"
# The scan runs every minute and queues due jobs this far ahead, so each runs on time.
LOOKAHEAD = timedelta(minutes=2)
LEAD_ROLES = {Audience.internal.value: "comms_internal", Audience.external.value: "comms_external"}


@dataclass(frozen=True)
class Due:
    channel: CommsChannel
    last_at: datetime | None  # when what last reached it was posted
    due_at: datetime | None
    because: str  # "every 30 min", "promised in the 14:02 update"

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at <= now


def _fmt(when: datetime) -> str:
    return when.strftime("%H:%M UTC")


def compute(
    channel: CommsChannel,
    incident: Incident,
    *,
    last_at: datetime | None,
    latest: StatusUpdate | None,
) -> Due:
    """The channel's next due time for this incident (pure: given what reached it last and
    the latest update of its audience)."""
    if not incident.is_open:
        return Due(channel, last_at, None, "")
    options: list[tuple[datetime, str]] = []
    if channel.cadence_minutes:
        since = last_at or incident.created_at
        options.append((since + timedelta(minutes=channel.cadence_minutes),
                        f"every {channel.cadence_minutes} min"))  # fmt: skip
    if latest is not None and latest.next_update_at is not None:
        reached_since = last_at is not None and last_at > latest.created_at
        if not reached_since:
            options.append(
                (latest.next_update_at, f"promised in the {_fmt(latest.created_at)} update")
            )
    if not options:
        return Due(channel, last_at, None, "")
    due_at, because = min(options, key=lambda o: o[0])
    return Due(channel, last_at, due_at, because)


def last_reached(session: Session, incident: Incident) -> dict[int, datetime]:
    """Per channel: when what last reached it was posted (updates) or marked (by hand)."""
    rows = session.execute(
        select(CommsDelivery.channel_id, CommsDelivery.sent_at, StatusUpdate.created_at)
        .outerjoin(StatusUpdate, StatusUpdate.id == CommsDelivery.update_id)
        .where(
            CommsDelivery.incident_id == incident.id,
            CommsDelivery.channel_id.is_not(None),
            CommsDelivery.user_id.is_(None),
            CommsDelivery.state == DeliveryState.sent.value,
            CommsDelivery.purpose.in_([DeliveryPurpose.update.value,
                                       DeliveryPurpose.manual.value]),
        )
    ).all()  # fmt: skip
    out: dict[int, datetime] = {}
    for channel_id, sent_at, posted_at in rows:
        when = posted_at or sent_at
        if channel_id is None or when is None:
            continue
        if channel_id not in out or when > out[channel_id]:
            out[channel_id] = when
    return out


def applicable(session: Session, incident: Incident) -> list[CommsChannel]:
    """The channels that apply to this incident now, in registry order."""
    return [c for c in list_channels(session) if applies(c, incident)]


def dues(
    session: Session, incident: Incident, channels: list[CommsChannel] | None = None
) -> list[Due]:
    """Each applicable channel with its due time."""
    channels = applicable(session, incident) if channels is None else channels
    reached = last_reached(session, incident)
    latest = {a.value: latest_update(session, incident, a.value) for a in Audience}
    return [
        compute(c, incident, last_at=reached.get(c.id), latest=latest[c.audience]) for c in channels
    ]


def lead_for(incident: Incident, audience: str) -> tuple[User | None, str]:
    """Who is told that a channel is late: the communications manager for its audience, else
    the commander, else whoever declared the incident. Returns (person, their part)."""
    slug = LEAD_ROLES.get(audience, "comms_internal")
    candidates = [
        (incident.holder(slug), "communications manager"),
        (incident.commander, "incident commander"),
        (incident.created_by, "declared the incident"),
    ]
    for person, part in candidates:
        if person is not None and may_see(incident, person):
            return person, part
    return None, ""


def _key(incident_id: int, channel_id: int, due_at: datetime) -> str:
    return f"{incident_id}:{channel_id}:{due_at.isoformat()}"


def queue_due(session: Session, incident: Incident, due: Due) -> None:
    """Queue the due-time job for this channel's current due time (once per due time)."""
    assert due.due_at is not None
    enqueue(
        session,
        DUE_JOB,
        {"incident_id": incident.id, "channel_id": due.channel.id,
         "due_at": due.due_at.isoformat()},
        run_at=due.due_at,
        key="comms-due:" + _key(incident.id, due.channel.id, due.due_at),
    )  # fmt: skip


def scan(session: Session, now: datetime | None = None) -> int:
    """Queue due-time jobs for every open incident's channels due within the lookahead.
    Returns how many due times were found."""
    now = now or utcnow()
    channels = list_channels(session)
    if not channels:
        return 0
    incidents = session.scalars(
        select(Incident)
        .where(Incident.status.in_([s.value for s in OPEN_STATUSES]))
        .options(selectinload(Incident.services), selectinload(Incident.role_assignments))
    ).all()
    found = 0
    for incident in incidents:
        fitting = [c for c in channels if applies(c, incident)]
        if not fitting:
            continue
        for due in dues(session, incident, fitting):
            if due.due_at is not None and due.due_at <= now + LOOKAHEAD:
                queue_due(session, incident, due)
                found += 1
    return found


def remind(
    session: Session,
    incident_id: int,
    channel_id: int,
    due_at: datetime,
    now: datetime | None = None,
) -> CommsDelivery | None:
    """At a due time: if nothing newer reached the channel, write a reminder on the timeline
    and tell the lead (a plain notification). Returns the reminder, or None."""
    now = now or utcnow()
    incident = session.get(Incident, incident_id)
    channel = session.get(CommsChannel, channel_id)
    if incident is None or channel is None or not applies(channel, incident):
        return None
    (current,) = dues(session, incident, [channel])
    if current.due_at is None or current.due_at > now or current.due_at != due_at:
        return None  # an update reached it meanwhile, or the due time moved
    lead, part = lead_for(incident, channel.audience)
    fields = {
        "incident_id": incident.id, "channel_id": channel.id, "due_at": due_at,
        "purpose": DeliveryPurpose.reminder.value,
        "key": "reminder:" + _key(incident.id, channel.id, due_at),
        "reason": f"{channel.name} was due an update at {_fmt(due_at)} ({current.because})",
    }  # fmt: skip
    if lead is None:
        reminder = CommsDelivery(
            **fields, recipient="nobody", via="", state=DeliveryState.skipped.value,
            detail="not sent: no communications manager, commander or declarer to tell",
            results={}, created_at=now, updated_at=now,
        )  # fmt: skip
        if not insert_once(session, reminder):
            return None
        told = "nobody to tell"
    else:
        planned = plan(session, **fields, user_id=lead.id, recipient=lead.name,
                       via="contact methods")  # fmt: skip
        if planned is None:
            return None  # reminded already
        reminder, told = planned, f"telling {lead.name} ({part})"
    record(
        session,
        incident,
        "reminder",
        f"{channel.name} is due an update: it was due at {_fmt(due_at)} ({current.because}); "
        f"{told}",
        by=None,
        body=f"Who may post there: {posters_text(channel)}.",
    )
    return reminder
