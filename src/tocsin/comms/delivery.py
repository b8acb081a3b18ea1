"""The `comms.deliver` job: send one planned delivery (an update or a reminder) to a channel
or to a person, retrying with the page backoff; a final failure goes on the timeline.

People get it on the contact methods of their low-urgency rules (information, not an
emergency), all at once, or on every enabled method when they have no such rules: no
escalation, no notification rules' delays, no acknowledge links. Methods that already got
it are not sent it again on a retry. Like pages, a delivery is marked `sending` and
committed before anything is sent, so no transaction stays open while a mail server or
webhook answers; a worker that dies mid-send leaves the job to run again (at least once,
with the same delivery id)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.comms import service as registry
from tocsin.comms.messages import reminder_message, update_message
from tocsin.comms.models import CommsChannel, CommsDelivery, DeliveryPurpose, DeliveryState
from tocsin.comms.rules import excluded, posters_text
from tocsin.comms.sending import DELIVER_JOB
from tocsin.comms.stakeholders import may_see, recipients
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue
from tocsin.notify.channels import Channel, Channels, DeliveryFailed, Destination
from tocsin.notify.delivery import _destination as method_destination
from tocsin.notify.delivery import _remember as remember_method
from tocsin.notify.delivery import _seconds as seconds_text
from tocsin.notify.delivery import channel_name, retry_delay
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import ContactMethod, NotificationRule
from tocsin.notify.service import contact_methods

log = structlog.get_logger("tocsin.comms")

# One send: (results key, label, channel name, channel, destination).
Target = tuple[str, str, str, Channel, Destination]


def quiet_methods(session: Session, user: User) -> list[ContactMethod]:
    """Where information (not a page) reaches a person: their low-urgency rules' methods,
    else every enabled method."""
    rules = session.scalars(
        select(NotificationRule)
        .where(NotificationRule.user_id == user.id, NotificationRule.urgency == "low")
        .order_by(NotificationRule.position)
    )
    chosen = list(dict.fromkeys(r.contact_method for r in rules if r.contact_method.enabled))
    return chosen or [m for m in contact_methods(session, user) if m.enabled]


def to_person(delivery: CommsDelivery) -> bool:
    """Reminders and stakeholder updates go to a person; the rest to a channel."""
    return delivery.purpose == DeliveryPurpose.reminder or delivery.user_id is not None


def _why_not(session: Session, delivery: CommsDelivery) -> str | None:
    """Why a planned delivery must not be sent now (things changed since it was planned)."""
    incident = delivery.incident
    if delivery.purpose == DeliveryPurpose.update and delivery.update is None:
        return "the update was deleted"
    if not to_person(delivery):
        channel = delivery.channel
        if channel is None:
            return "the recipient was deleted"
        if channel.paused:
            return "sending to this channel is paused"
        return excluded(channel, incident)
    user = delivery.user
    if user is None:
        return "the account was deleted"
    if not may_see(incident, user):
        return "can no longer see the incident"
    if delivery.purpose == DeliveryPurpose.update:
        allowed, _ = recipients(session, incident)
        if all(r.user.id != user.id for r in allowed):
            return "no longer follows the incident"
    return None


def _message(delivery: CommsDelivery, settings: Settings) -> PageMessage:
    incident = delivery.incident
    delivery_id = f"tocsin-comms-{delivery.id}"
    if delivery.purpose == DeliveryPurpose.reminder:
        channel, user = delivery.channel, delivery.user
        assert user is not None
        return reminder_message(
            incident, recipient_name=user.name, timezone=user.timezone,
            channel_name=channel.name if channel else delivery.reason,
            due_at=delivery.due_at, posters=posters_text(channel) if channel else "",
            base_url=settings.base_url, delivery_id=delivery_id,
        )  # fmt: skip
    assert delivery.update is not None
    person = delivery.user if to_person(delivery) else None
    return update_message(
        incident, delivery.update, base_url=settings.base_url, delivery_id=delivery_id,
        recipient_name=person.name if person else delivery.recipient,
        reason=delivery.reason if person else "", timezone=person.timezone if person else "UTC",
        person=person is not None,
    )  # fmt: skip


def _channel_target(channel: CommsChannel, channels: Channels, settings: Settings) -> Target:
    secret = (
        registry.channel_secret(settings.secret_key, channel) if channel.kind == "webhook" else ""
    )
    destination = Destination(target=channel.target, secret=secret, label=channel.name)
    return ("channel", channel.name, channel.kind, channels.for_kind(channel.kind), destination)


def _targets(
    session: Session, delivery: CommsDelivery, channels: Channels, settings: Settings
) -> list[Target]:
    done = {key for key, r in (delivery.results or {}).items() if r.get("ok")}
    if not to_person(delivery):
        assert delivery.channel is not None
        return [] if "channel" in done else [_channel_target(delivery.channel, channels, settings)]
    assert delivery.user is not None
    return [
        (str(m.id), m.label, channel_name(m, m.kind), channels.for_kind(m.kind),
         method_destination(m, settings))
        for m in quiet_methods(session, delivery.user)
        if str(m.id) not in done
    ]  # fmt: skip


def _skip(delivery: CommsDelivery, reason: str) -> None:
    delivery.state = DeliveryState.skipped.value
    delivery.detail = f"not sent: {reason}"
    delivery.updated_at = utcnow()


def deliver(
    session: Session,
    delivery_id: int,
    *,
    channels: Channels,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Send one planned delivery, or record why not. Commits once before sending."""
    delivery = session.get(CommsDelivery, delivery_id, with_for_update=True)
    pending = (DeliveryState.planned, DeliveryState.sending)
    if delivery is None or delivery.state not in pending:
        return  # already handled by an earlier run of this job
    reason = _why_not(session, delivery)
    if reason is not None:
        _skip(delivery, reason)
        session.flush()
        return
    targets = _targets(session, delivery, channels, settings)
    if not targets and not delivery.results:
        _skip(delivery, f"{delivery.recipient} has no enabled contact method")
        session.flush()
        return
    message = _message(delivery, settings)
    delivery.attempts += 1
    delivery.state = DeliveryState.sending.value
    delivery.updated_at = utcnow()
    session.commit()  # nothing is held open while the channels answer
    outcomes: list[tuple[str, str, str, str | None]] = []
    retryable = False  # whether any failure could go better on another attempt
    for key, label, name, channel, where in targets:
        try:
            channel.send(message, where)
        except DeliveryFailed as exc:
            outcomes.append((key, label, name, exc.reason))
            retryable = retryable or exc.retryable
        else:
            outcomes.append((key, label, name, None))
    delivery = session.get(CommsDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.state != DeliveryState.sending:
        return
    _record(session, delivery, outcomes, settings, now or utcnow(), retryable=retryable)
    session.flush()


def _record(
    session: Session,
    delivery: CommsDelivery,
    outcomes: list[tuple[str, str, str, str | None]],
    settings: Settings,
    now: datetime,
    *,
    retryable: bool = True,
) -> None:
    results: dict[str, Any] = dict(delivery.results or {})
    for key, label, name, error in outcomes:
        results[key] = {"label": label, "channel": name, "ok": error is None,
                        "detail": error or "sent"}  # fmt: skip
        if key == "channel" and delivery.channel is not None:
            result = "sent" if error is None else f"failed: {error}"
            registry.remember(delivery.channel, ok=error is None, result=result)
        elif key != "channel":
            method = session.get(ContactMethod, int(key))
            if method is not None:
                what = delivery.purpose
                result = f"{what} sent" if error is None else f"{what} failed: {error}"
                remember_method(method, ok=error is None, result=result)
    delivery.results = results
    delivery.updated_at = now
    sent = [r["label"] for r in results.values() if r["ok"]]
    failed = [f"{r['label']}: {r['detail']}" for r in results.values() if not r["ok"]]
    if sent and delivery.sent_at is None:
        delivery.sent_at = now
    summary = ("sent to " + ", ".join(sent) if to_person(delivery) else "sent") if sent else ""
    if not failed:
        delivery.state = DeliveryState.sent.value
        delivery.detail = summary
        log.info("comms.sent", delivery_id=delivery.id, purpose=delivery.purpose)
        return
    failures = "; ".join(failed)
    if retryable and delivery.attempts < settings.notify_attempts:
        delay = retry_delay(settings, delivery.attempts)
        delivery.state = DeliveryState.planned.value  # until the retry
        delivery.detail = "; ".join(
            part for part in (summary, f"attempt {delivery.attempts} of "
                              f"{settings.notify_attempts} failed: {failures}",
                              f"retrying in {seconds_text(delay)}") if part
        )  # fmt: skip
        enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id},
                run_at=now + timedelta(seconds=delay))  # fmt: skip
        return
    delivery.state = (DeliveryState.sent if sent else DeliveryState.failed).value
    delivery.detail = "; ".join(part for part in (summary, f"failed: {failures}") if part)
    if retryable:  # otherwise the channel has said why, once per process
        log.warning("comms.failed", delivery_id=delivery.id, error=failures)
    what = {"update": "Update", "reminder": "Reminder"}.get(delivery.purpose, "Delivery")
    record(
        session,
        delivery.incident,
        "comms_failed",
        f"{what} to {delivery.recipient} failed after {delivery.attempts} attempt(s): {failures}",
        by=None,
    )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Any]:
    """The handler bootstrap registers for deliveries."""

    def deliver_job(session: Session, payload: dict[str, Any]) -> None:
        deliver(session, int(payload["delivery_id"]), channels=channels, settings=settings)

    return {DELIVER_JOB: deliver_job}
