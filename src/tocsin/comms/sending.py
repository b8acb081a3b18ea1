"""Deciding where an update goes, and the two things people do by hand: send the latest
update to an on-request channel, and say they posted to a channel themselves.

Every delivery is a `CommsDelivery` row and a `comms.deliver` job written in the caller's
transaction; the job sends after commit (comms/delivery.py). A channel that is not sent to
on purpose gets a `skipped` row saying why, so the incident page can show it."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.comms.models import (
    Audience,
    CommsChannel,
    CommsDelivery,
    DeliveryPurpose,
    DeliveryState,
)
from tocsin.comms.rules import excluded, matches, may_post, posters_text
from tocsin.comms.service import list_channels
from tocsin.comms.stakeholders import recipients
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, ValidationFailed
from tocsin.incidents.events import UpdatePosted
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.incidents.timeline import actor_name, record
from tocsin.jobs.queue import enqueue
from tocsin.notify.channels import apprise_plugin

DELIVER_JOB = "comms.deliver"
NOTE_MAX = 2000


def channel_via(channel: CommsChannel) -> str:
    """How people call the way a channel is reached: "Slack", "email", "webhook"."""
    if channel.kind == "apprise":
        plugin = apprise_plugin(channel.target)
        return str(getattr(plugin, "service_name", "") or "Apprise")
    return str(channel.kind)


def insert_once(session: Session, delivery: CommsDelivery) -> bool:
    """Insert unless a delivery with its key exists (a repeat of the same work)."""
    exists = session.scalar(select(CommsDelivery.id).where(CommsDelivery.key == delivery.key))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(delivery)
            session.flush()
    except IntegrityError:
        return False
    return True


def plan(session: Session, **fields: Any) -> CommsDelivery | None:
    """A planned delivery and its job, or None if this key was planned before."""
    now = utcnow()
    delivery = CommsDelivery(state=DeliveryState.planned.value, created_at=now, updated_at=now,
                             results={}, **fields)  # fmt: skip
    if not insert_once(session, delivery):
        return None
    enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id})
    return delivery


def _skip(session: Session, why: str, /, **fields: Any) -> CommsDelivery | None:
    now = utcnow()
    delivery = CommsDelivery(state=DeliveryState.skipped.value, detail=f"not sent: {why}",
                             created_at=now, updated_at=now, results={}, **fields)  # fmt: skip
    return delivery if insert_once(session, delivery) else None


def _to_channel(
    session: Session, update: StatusUpdate, channel: CommsChannel, *, key: str, by: User | None
) -> CommsDelivery | None:
    incident = update.incident
    fields: dict[str, Any] = {
        "incident_id": incident.id, "update_id": update.id, "channel_id": channel.id,
        "purpose": DeliveryPurpose.update.value, "recipient": channel.name,
        "via": channel_via(channel), "key": key, "by_id": by.id if by else None,
        "reason": f"{channel.audience} channel for this incident",
    }  # fmt: skip
    why = excluded(channel, incident)
    if why is None and channel.paused:
        why = "sending to this channel is paused"
    if why is None and not may_post(channel, incident, by):
        why = f"{actor_name(by)} may not post here (only {posters_text(channel)})"
    if why is not None:
        return _skip(session, why, **fields)
    return plan(session, **fields)


def on_update_posted(session: Session, event: UpdatePosted) -> None:
    """An update was posted on an incident: plan where it goes (`update_posted`)."""
    update = session.get(StatusUpdate, event.update_id)
    if update is not None:
        update_posted(session, update)


def update_posted(session: Session, update: StatusUpdate) -> list[CommsDelivery]:
    """Plan where a just-posted update goes: internal updates to the incident's stakeholders
    and the matching automatic internal channels; external updates to the matching automatic
    external channels. Never a page: people get it through their own contact methods."""
    incident = update.incident
    author = update.author
    planned: list[CommsDelivery] = []
    if update.visibility == Audience.internal:
        allowed, refused = recipients(session, incident)
        for person in allowed:
            row = plan(
                session, incident_id=incident.id, update_id=update.id, user_id=person.user.id,
                purpose=DeliveryPurpose.update.value, recipient=person.user.name,
                via="contact methods", reason=person.reason,
                key=f"update:{update.id}:user:{person.user.id}",
            )  # fmt: skip
            if row is not None:
                planned.append(row)
        for person in refused:
            _skip(
                session, person.reason, incident_id=incident.id, update_id=update.id,
                user_id=person.user.id, purpose=DeliveryPurpose.update.value,
                recipient=person.user.name, key=f"update:{update.id}:user:{person.user.id}",
            )  # fmt: skip
    for channel in list_channels(session):
        if not channel.automatic or not channel.sendable:
            continue
        if channel.audience != update.visibility or not matches(channel, incident):
            continue
        row = _to_channel(
            session, update, channel, key=f"update:{update.id}:channel:{channel.id}", by=author
        )
        if row is not None and row.state == DeliveryState.planned:
            planned.append(row)
    return planned


def latest_update(session: Session, incident: Incident, audience: str) -> StatusUpdate | None:
    return session.scalar(
        select(StatusUpdate)
        .where(StatusUpdate.incident_id == incident.id, StatusUpdate.visibility == audience)
        .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())
        .limit(1)
    )


def _check_may_post(channel: CommsChannel, incident: Incident, by: User) -> None:
    if not may_post(channel, incident, by):
        raise Forbidden(f"only {posters_text(channel)} may post to {channel.name}")


def send_latest(
    session: Session, incident: Incident, channel: CommsChannel, *, by: User
) -> CommsDelivery:
    """Send the incident's latest update of the channel's audience to the channel now (for
    channels that are posted to on request)."""
    _check_may_post(channel, incident, by)
    if not channel.sendable:
        raise ValidationFailed(
            f"Tocsin cannot post to {channel.name}; post there yourself and mark it posted",
            field="channel_id",
        )
    why = excluded(channel, incident) or ("sending is paused" if channel.paused else None)
    if why is not None:
        raise ValidationFailed(f"{channel.name}: {why}", field="channel_id")
    update = latest_update(session, incident, channel.audience)
    if update is None:
        raise ValidationFailed(
            f"{incident.reference} has no {channel.audience} update to send yet",
            field="channel_id",
        )
    busy = session.scalar(
        select(CommsDelivery.id).where(
            CommsDelivery.update_id == update.id,
            CommsDelivery.channel_id == channel.id,
            CommsDelivery.state.in_([DeliveryState.planned.value, DeliveryState.sending.value,
                                     DeliveryState.sent.value]),
        )
    )  # fmt: skip
    if busy is not None:
        raise Conflict(f"the latest {channel.audience} update already went to {channel.name}")
    key = f"update:{update.id}:channel:{channel.id}:by-hand:{secrets.token_hex(6)}"
    delivery = _to_channel(session, update, channel, key=key, by=by)
    assert delivery is not None  # a fresh random key
    record(session, incident, "comms",
           f"{actor_name(by)} sent the latest {channel.audience} update to {channel.name}",
           by=by)  # fmt: skip
    return delivery


def mark_posted(
    session: Session, incident: Incident, channel: CommsChannel, *, by: User, note: str = ""
) -> CommsDelivery:
    """Record that `by` posted to the channel themselves (an exec briefing, a bridge call):
    the channel's next update is due a cadence from now."""
    _check_may_post(channel, incident, by)
    note = v.text(note, "note", max_len=NOTE_MAX)
    now = utcnow()
    delivery = CommsDelivery(
        incident_id=incident.id, channel_id=channel.id, purpose=DeliveryPurpose.manual.value,
        recipient=channel.name, via="by hand", reason=f"marked posted by {by.name}",
        key=f"manual:{incident.id}:{channel.id}:{secrets.token_hex(8)}",
        state=DeliveryState.sent.value, detail=note, by_id=by.id, results={},
        created_at=now, updated_at=now, sent_at=now,
    )  # fmt: skip
    session.add(delivery)
    session.flush()
    record(session, incident, "comms", f"{by.name} posted to {channel.name}", by=by, body=note)
    return delivery


def deliveries_for(
    session: Session, incident: Incident, *, limit: int = 200
) -> list[CommsDelivery]:
    """The incident's deliveries, newest first."""
    return list(
        session.scalars(
            select(CommsDelivery)
            .where(CommsDelivery.incident_id == incident.id)
            .options(selectinload(CommsDelivery.by))
            .order_by(CommsDelivery.created_at.desc(), CommsDelivery.id.desc())
            .limit(limit)
        )
    )


def internal_channels(session: Session, incident: Incident) -> list[CommsChannel]:
    """The internal channels the incident's internal updates reach automatically."""
    return [
        c
        for c in list_channels(session)
        if c.automatic and c.sendable and c.audience == Audience.internal and matches(c, incident)
    ]


def post_message(
    session: Session, incident: Incident, channel: CommsChannel, body: str, *, key: str, why: str
) -> CommsDelivery | None:
    """Plan `body` to `channel` as a message, not an update: the incident's status and the
    channel's update cadence do not move. Sent by Tocsin itself (a workflow), so the
    channel's posting restrictions, which are about people, do not apply; its conditions
    do not either (it was chosen), but a restricted incident, a drill to an external channel
    and a paused channel are refused as for updates: a `skipped` row says why. None if `key`
    was planned before."""
    body = v.text(body, "message", max_len=5000, required=True)
    fields: dict[str, Any] = {
        "incident_id": incident.id, "channel_id": channel.id,
        "purpose": DeliveryPurpose.message.value, "recipient": channel.name,
        "via": channel_via(channel), "key": key, "reason": why, "body": body,
    }  # fmt: skip
    if not channel.sendable:
        return _skip(session, f"Tocsin cannot post to {channel.name}", **fields)
    refused = excluded(channel, incident) or ("sending is paused" if channel.paused else None)
    if refused is not None:
        return _skip(session, refused, **fields)
    return plan(session, **fields)


def notify_stakeholders(
    session: Session, incident: Incident, body: str, *, key: str
) -> list[CommsDelivery]:
    """Plan `body` to each of the incident's stakeholders who may see it, as a message on
    their quiet contact methods: the news reaches them without an update, so the incident's
    status does not move (an update would take a triggered incident out of triggered, which
    stops its paging). Those who may not see it get a `skipped` row. Keyed by `key` and the
    person: a repeat plans nothing."""
    body = v.text(body, "message", max_len=5000, required=True)
    allowed, refused = recipients(session, incident)
    planned: list[CommsDelivery] = []
    for person in allowed:
        row = plan(
            session, incident_id=incident.id, user_id=person.user.id,
            purpose=DeliveryPurpose.message.value, recipient=person.user.name,
            via="contact methods", reason=person.reason, body=body,
            key=f"{key}:user:{person.user.id}",
        )  # fmt: skip
        if row is not None:
            planned.append(row)
    for person in refused:
        _skip(
            session, person.reason, incident_id=incident.id, user_id=person.user.id,
            purpose=DeliveryPurpose.message.value, recipient=person.user.name, body=body,
            key=f"{key}:user:{person.user.id}",
        )  # fmt: skip
    return planned
