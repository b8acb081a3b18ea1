"""The `comms.deliver` job: one planned delivery (an update or a reminder) to a channel or
to a person, sent by the one delivery module (notify/delivery.py); a final failure goes on
the timeline.

People get it on the contact methods of their low-urgency rules (information, not an
emergency), all at once, or on every enabled method when they have no such rules: no
escalation, no notification rules' delays, no acknowledge links. Methods that already got
it are not sent it again on a retry."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.comms import service as registry
from tocsin.comms.messages import plain_message, reminder_message, update_message
from tocsin.comms.models import CommsChannel, CommsDelivery, DeliveryPurpose, DeliveryState
from tocsin.comms.rules import excluded, posters_text
from tocsin.comms.sending import DELIVER_JOB
from tocsin.comms.stakeholders import may_see, recipients
from tocsin.config import Settings
from tocsin.incidents.timeline import record as record_entry
from tocsin.jobs.registry import Handler
from tocsin.notify.channels import Channels, Destination
from tocsin.notify.delivery import Outcome, Purpose, Refusal, Result, RetryPolicy, Target, handler
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import ContactMethod, NotificationRule
from tocsin.notify.pages import method_target
from tocsin.notify.pages import remember as remember_method
from tocsin.notify.service import contact_methods

log = structlog.get_logger("tocsin.comms")


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
    if delivery.purpose in (DeliveryPurpose.update, DeliveryPurpose.message):
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
    person = delivery.user if to_person(delivery) else None
    if delivery.purpose == DeliveryPurpose.message:
        return plain_message(
            incident, delivery.body, sender=delivery.by.name if delivery.by else "Tocsin",
            recipient_name=person.name if person else delivery.recipient,
            reason=delivery.reason if person else "", base_url=settings.base_url,
            delivery_id=delivery_id,
        )  # fmt: skip
    assert delivery.update is not None
    return update_message(
        incident, delivery.update, base_url=settings.base_url, delivery_id=delivery_id,
        recipient_name=person.name if person else delivery.recipient,
        reason=delivery.reason if person else "", timezone=person.timezone if person else "UTC",
        person=person is not None,
    )  # fmt: skip


def _channel_target(
    channel: CommsChannel, message: PageMessage, channels: Channels, settings: Settings
) -> Target:
    secret = (
        registry.channel_secret(settings.secret_key, channel) if channel.kind == "webhook" else ""
    )
    where = Destination(target=channel.target, secret=secret, label=channel.name)
    sender = channels.for_kind(channel.kind)

    def send() -> str:
        sender.send(message, where)
        return "sent"

    return Target("channel", channel.name, channel.kind, send)


class Communications(Purpose[CommsDelivery]):
    """An update or a reminder to a channel or to a person (a CommsDelivery row)."""

    job = DELIVER_JOB
    payload_key = "delivery_id"
    waiting = DeliveryState.planned.value

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> CommsDelivery | None:
        return session.get(CommsDelivery, ident, with_for_update=True)

    def why_not(self, session: Session, record: CommsDelivery) -> str | None:
        return _why_not(session, record)

    def targets(self, session: Session, record: CommsDelivery) -> list[Target] | Refusal:
        message = _message(record, self.settings)
        if not to_person(record):
            assert record.channel is not None
            return [_channel_target(record.channel, message, self.channels, self.settings)]
        assert record.user is not None
        methods = quiet_methods(session, record.user)
        if not methods:
            return Refusal(f"{record.recipient} has no enabled contact method")
        return [method_target(session, m, message, self.channels, self.settings) for m in methods]

    def attempted(self, session: Session, record: CommsDelivery, results: list[Result]) -> None:
        for result in results:
            if result.key == "channel" and record.channel is not None:
                said = "sent" if result.ok else f"failed: {result.detail}"
                registry.remember(record.channel, ok=result.ok, result=said)
            elif result.key.isdecimal():
                method = session.get(ContactMethod, int(result.key))
                if method is not None:
                    what = record.purpose
                    said = f"{what} sent" if result.ok else f"{what} failed: {result.detail}"
                    remember_method(method, ok=result.ok, result=said)
        return None

    def concluded(self, session: Session, record: CommsDelivery, outcome: Outcome) -> None:
        if not outcome.failed:
            return  # the update itself is on the timeline; a sent copy adds nothing
        what = {"update": "Update", "reminder": "Reminder", "message": "Message"}.get(
            record.purpose, "Delivery"
        )
        tries = f"{outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}"
        record_entry(
            session,
            record.incident,
            "comms_failed",
            f"{what} to {record.recipient} failed after {tries}: {'; '.join(outcome.failed)}",
            by=None,
        )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handler bootstrap registers for deliveries."""
    policy = RetryPolicy.from_settings(settings)
    return {DELIVER_JOB: handler(Communications(channels, settings), policy)}
