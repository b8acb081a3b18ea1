"""An incident's channel in each connection: when it is wanted, who belongs in it, and the
messages Tocsin keeps there (the live header, the pinned summary).

Nothing here talks to a chat service. A change writes the channel's row and queues its
upkeep (`sync.SYNC_JOB`) in the caller's transaction; the job brings the channel in line
with what this module says it should be, after commit. So a chat service that is down or
slow never holds up, fails or loses an incident action: the job retries, and the next
change's upkeep carries everything still missing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.chat.models import ChannelState, ChatChannel, ChatConnection
from tocsin.chat.ports import Button, Choice, Field, Message
from tocsin.comms.stakeholders import stakeholders_of
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import response
from tocsin.incidents.access import can_see
from tocsin.incidents.members import members as incident_members
from tocsin.incidents.models import OPEN_STATUSES, Incident, StatusUpdate
from tocsin.incidents.updates import format_next_update
from tocsin.jobs.queue import enqueue
from tocsin.notify.models import Notification

SYNC_JOB = "chat.sync"
NAME_MAX = 64  # Mattermost's limit; Slack allows 80
TOPIC_MAX = 250


def channel_name(naming: str, incident: Incident) -> str:
    """The channel's name from the connection's scheme: lowercase letters, digits and
    dashes, at most NAME_MAX characters (the client adds a suffix if it is taken)."""
    filled = (
        naming.replace("{number}", str(incident.number))
        .replace("{reference}", incident.reference)
        .replace("{date}", incident.created_at.strftime("%Y%m%d"))
        # A private incident's channel is named by its codename, where it has one.
        .replace(
            "{title}",
            incident.codename if incident.restricted and incident.codename else incident.title,
        )
    )
    name = re.sub(r"[^a-z0-9_]+", "-", filled.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", name)[:NAME_MAX].rstrip("-_") or f"inc-{incident.number}"


def gets_channel(connection: ChatConnection, severity_id: int | None) -> bool:
    """Whether an incident of this severity gets a channel in this connection."""
    return connection.enabled and severity_id in connection.channel_severity_ids


def queue_sync(session: Session, channel: ChatChannel) -> None:
    """Queue the channel's upkeep. Each change queues one; an upkeep finding the channel
    already as it should be asks nothing of the chat service."""
    channel.updated_at = utcnow()
    session.flush()
    enqueue(session, SYNC_JOB, {"channel_id": channel.id})


def channels_of(session: Session, incident_id: int) -> list[ChatChannel]:
    return list(
        session.scalars(
            select(ChatChannel)
            .where(ChatChannel.incident_id == incident_id)
            .order_by(ChatChannel.id)
        )
    )


def ensure(session: Session, incident: Incident) -> list[ChatChannel]:
    """Open a channel in each connection whose severities include the incident's (one per
    connection, never again once made), and queue every channel's upkeep."""
    have = {c.connection_id: c for c in channels_of(session, incident.id)}
    if incident.status in OPEN_STATUSES:
        for connection in session.scalars(select(ChatConnection).order_by(ChatConnection.id)):
            if connection.id in have or not gets_channel(connection, incident.severity_id):
                continue
            channel = ChatChannel(
                incident_id=incident.id,
                connection_id=connection.id,
                state=ChannelState.creating.value,
                name=channel_name(connection.naming, incident),
                private=incident.restricted,
                invited=[],
            )
            session.add(channel)
            have[connection.id] = channel
    for channel in have.values():
        queue_sync(session, channel)
    return list(have.values())


def resume(session: Session, connection: ChatConnection) -> None:
    """A connection turned on again: its channels' upkeep catches up with what changed."""
    for channel in session.scalars(
        select(ChatChannel).where(
            ChatChannel.connection_id == connection.id,
            ChatChannel.state.not_in((ChannelState.archived.value, ChannelState.failed.value)),
        )
    ):
        queue_sync(session, channel)


def refresh(session: Session, incident_id: int) -> None:
    """Queue the upkeep of the incident's channels (its header changed, or its people)."""
    for channel in channels_of(session, incident_id):
        if channel.state != ChannelState.archived.value:
            queue_sync(session, channel)


def closing(session: Session, incident: Incident) -> None:
    """The incident closed: archive its channels after each connection's delay."""
    now = utcnow()
    for channel in channels_of(session, incident.id):
        if channel.state in (ChannelState.archived.value, ChannelState.failed.value):
            continue
        delay = timedelta(minutes=channel.connection.archive_after_minutes)
        channel.state = ChannelState.archiving.value
        channel.archive_due_at = now + delay
        queue_sync(session, channel)  # the header shows it closed at once
        queue_sync_at(session, channel, delay.total_seconds())


def queue_sync_at(session: Session, channel: ChatChannel, seconds: float) -> None:
    """Queue an upkeep at a later time (the archive's due time, a retry)."""
    when = utcnow() + timedelta(seconds=seconds)
    enqueue(session, SYNC_JOB, {"channel_id": channel.id}, run_at=when)


def reopened(session: Session, incident: Incident) -> None:
    """A reopened incident keeps its channels: archiving is called off (one archived
    already stays archived; its header says so)."""
    for channel in channels_of(session, incident.id):
        if channel.state == ChannelState.archiving.value:
            channel.state = (
                ChannelState.open.value if channel.remote_id else ChannelState.creating.value
            )
            channel.archive_due_at = None
        if channel.state != ChannelState.archived.value:
            queue_sync(session, channel)


def members(session: Session, incident: Incident) -> list[User]:
    """Who belongs in the incident's channels: its members (whoever declared it, its role
    holders, and those added), the people paged for it and its stakeholders (people, and the
    members of teams); for a private incident, only those of them allowed to see it."""
    people: dict[int, User] = {}

    def add(user: User | None) -> None:
        if user is not None and user.active:
            people.setdefault(user.id, user)

    add(incident.created_by)
    for assignment in incident.role_assignments:
        add(assignment.user)
    for listed in incident_members(session, incident):
        add(listed.user)
    paged = session.scalars(
        select(User)
        .join(Notification, Notification.user_id == User.id)
        .where(Notification.incident_id == incident.id)
        .distinct()
    )
    for user in paged:
        add(user)
    for stakeholder in stakeholders_of(session, incident):
        add(stakeholder.user)
        if stakeholder.team is not None:
            for member in stakeholder.team.members:
                add(member)
    chosen = sorted(people.values(), key=lambda u: u.id)
    if incident.restricted:
        chosen = [u for u in chosen if can_see(session, u, incident)]
    return chosen


def _roles(incident: Incident) -> str:
    held: dict[str, list[str]] = {}
    for assignment in sorted(incident.role_assignments, key=lambda a: (a.role.position, a.id)):
        held.setdefault(assignment.role.name, []).append(assignment.user.name)
    return "; ".join(f"{role}: {', '.join(names)}" for role, names in held.items()) or "none yet"


def _next_update(session: Session, incident: Incident) -> str:
    last = session.scalar(
        select(StatusUpdate)
        .where(StatusUpdate.incident_id == incident.id)
        .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())
        .limit(1)
    )
    if incident.status not in OPEN_STATUSES:
        return "none: the incident is over"
    if last is None:
        return "no update posted yet"
    if last.next_update_at is None:
        return "not promised"
    return format_next_update(last.next_update_at)


def header(session: Session, incident: Incident, link: str) -> Message:
    """The live header: status, severity, roles, the next update due, the response
    target, and the actions that fit the incident's status."""
    severity = incident.severity
    timer = response.timer(incident)
    fields = (
        Field("Status", incident.status.capitalize()),
        Field("Severity", f"{severity.name} ({severity.label})" if severity else "not set"),
        Field("Roles", _roles(incident), short=False),
        Field("Next update", _next_update(session, incident)),
        Field("Response target", timer.text if timer.due else "none"),
    )
    ref = incident.reference
    buttons: list[Button] = []
    if incident.status == "triggered":
        buttons.append(Button("ack", "Acknowledge", ref, f"ack {ref}", "primary", "✅"))
    if incident.status in OPEN_STATUSES:
        others = session.scalars(
            select(Severity).where(Severity.id != incident.severity_id).order_by(Severity.rank)
        )
        choices = tuple(Choice(f"{ref} {s.name}", f"{s.name} ({s.label})") for s in others)
        if choices:
            buttons.append(
                Button("sev", "Change severity", ref, f"sev {ref} <severity>", choices=choices)
            )
        buttons.append(Button("update", "Post an update", ref, f"update {ref} <text>"))
        buttons.append(Button("resolve", "Resolve", ref, f"resolve {ref}", "danger"))
    drill = "[DRILL] " if incident.drill else ""
    return Message(
        text=f"{drill}{ref} {incident.title}: {incident.status}",
        title=f"{drill}{ref}: {incident.title}",
        link=link,
        fields=fields,
        buttons=tuple(buttons),
        context="Tocsin keeps this message up to date. Pin a message to the timeline with 📌.",
    )


def summary(incident: Incident, link: str) -> Message:
    """The summary pinned when the channel opens: what happened, the bridge and links."""
    fields = [Field("Services", ", ".join(s.name for s in incident.services) or "none")]
    if incident.customer_impact:
        fields.append(Field("Customer impact", incident.customer_impact[:500], short=False))
    for item in incident.links or []:
        fields.append(Field(item.get("label") or "Link", item.get("url", ""), short=False))
    description = incident.description.strip()[:1500]
    return Message(
        text=f"{incident.reference} {incident.title}" + (f"\n{description}" if description else ""),
        title=f"Summary of {incident.reference}: {incident.title}",
        link=link,
        fields=tuple(fields),
        context=(
            "Bridge and links above. Commands: /tocsin help (Slack, Mattermost) or "
            "!tocsin help (Matrix)."
        ),
    )


def topic(incident: Incident, link: str) -> str:
    return f"{incident.reference} {incident.title} · {link}"[:TOPIC_MAX]


def digest(message: Message) -> str:
    """A short fingerprint of a message, to edit the header only when it changed."""
    return hashlib.sha256(json.dumps(asdict(message), sort_keys=True).encode()).hexdigest()


def incident_link(base_url: str, incident: Incident) -> str:
    return f"{base_url.rstrip('/')}/incidents/{incident.reference}"


def channel_for(session: Session, connection: ChatConnection, remote_id: str) -> ChatChannel | None:
    """The incident channel with this id in the chat service, if it is one."""
    return session.scalar(
        select(ChatChannel).where(
            ChatChannel.connection_id == connection.id, ChatChannel.remote_id == remote_id
        )
    )
