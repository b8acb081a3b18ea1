"""Pages as deliveries: one planned notification to one person through one contact method,
sent by the one delivery module (notify/delivery.py); and test messages through a method.

A page must not go once the incident is resolved, or acknowledged after the page was planned
(someone paged by hand into an acknowledged incident still gets theirs until it is
acknowledged in turn, which cancels it). The incident's timeline gets one entry per page:
sent, or failed after its attempts with the fallback taken (the person's next contact method).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.bus import emit
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.access import can_see, outside_name
from tocsin.incidents.models import Incident, Status, TimelineEntry
from tocsin.incidents.timeline import record
from tocsin.jobs.registry import Handler, Send
from tocsin.notify import links
from tocsin.notify.channels import Channels, DeliveryFailed, Destination, apprise_plugin
from tocsin.notify.delivery import Outcome, Purpose, Refusal, RetryPolicy, Target, handler
from tocsin.notify.events import NotificationSent
from tocsin.notify.messages import PageMessage, page_message, test_message
from tocsin.notify.models import ActionKind, ContactKind, ContactMethod, Notification
from tocsin.notify.service import DELIVER_JOB, TEST_JOB, plan_fallback

log = structlog.get_logger("tocsin.notify")


def webhook_secret(secret_key: str, method: ContactMethod) -> str:
    """The signing secret of a webhook method: derived, so the database alone lacks it."""
    mac = hmac.new(secret_key.encode(), f"webhook:{method.signing_salt}".encode(), hashlib.sha256)
    return "whsec_" + mac.hexdigest()


def channel_name(method: ContactMethod | None, kind: str) -> str:
    """How people call the channel: "email", "webhook", or the Apprise service ("Slack")."""
    if kind == ContactKind.apprise and method is not None:
        plugin = apprise_plugin(method.target)
        if plugin is not None:
            return str(getattr(plugin, "service_name", "") or "Apprise")
    return kind


def destination(method: ContactMethod, settings: Settings) -> Destination:
    secret = webhook_secret(settings.secret_key, method) if method.kind == "webhook" else ""
    return Destination(target=method.target, secret=secret, label=method.label)


# A method that keeps working has its row rewritten at most this often: during an alert
# storm every page to one person would otherwise queue on that one row.
QUIET_SUCCESS = timedelta(minutes=1)


def remember(method: ContactMethod, *, ok: bool, result: str) -> None:
    """Keep a method's last result, shown next to it on the person's notifications page
    (a success right after another is left out, for QUIET_SUCCESS)."""
    last = method.last_result_at
    if ok and method.last_ok and last is not None and utcnow() - last < QUIET_SUCCESS:
        return
    method.last_ok = ok
    method.last_result = result[:2000]
    method.last_result_at = utcnow()
    method.consecutive_failures = 0 if ok else method.consecutive_failures + 1


def method_target(
    session: Session,
    method: ContactMethod,
    message: PageMessage,
    channels: Channels,
    settings: Settings,
) -> Target:
    """Sending `message` through one of a person's contact methods."""
    channel = channels.for_kind(method.kind)
    prepare = channels.prepare.get(method.kind)
    where: Destination | DeliveryFailed
    try:
        where = prepare(session, method, settings) if prepare else destination(method, settings)
    except DeliveryFailed as exc:  # e.g. the chat account is no longer linked
        where = exc

    def send() -> str:
        if isinstance(where, DeliveryFailed):
            raise where
        channel.send(message, where)
        return "sent"

    return Target(str(method.id), method.label, channel_name(method, method.kind), send)


def _local_time(user: User, when: datetime) -> str:
    try:
        zone = ZoneInfo(user.timezone)
    except Exception:  # an unknown zone in old data: UTC rather than no page
        zone = ZoneInfo("UTC")
    return str(when.astimezone(zone).strftime("%H:%M %Z"))


def _who_and_when(session: Session, incident: Incident, status: str, recipient: User) -> str:
    entry = session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "status_changed")
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
        .limit(1)
    )
    who = f" by {entry.actor.name}" if entry is not None and entry.actor is not None else ""
    when = incident.resolved_at if status in ("resolved", "closed") else incident.acknowledged_at
    at = f" at {_local_time(recipient, when)}" if when else ""
    return f"{who}{at}"


def why_not(
    session: Session, incident: Incident, recipient: User, paged_at: datetime
) -> str | None:
    """Why a page decided at `paged_at` must not be sent now, or None."""
    status = Status(incident.status)
    if status in (Status.resolved, Status.closed):
        return f"{status.value}{_who_and_when(session, incident, status.value, recipient)}"
    if incident.acknowledged_at is not None and incident.acknowledged_at >= paged_at:
        return f"acknowledged{_who_and_when(session, incident, 'acknowledged', recipient)}"
    return None


class Pages(Purpose[Notification]):
    """A page: one Notification row."""

    job = DELIVER_JOB
    payload_key = "notification_id"
    waiting = "planned"

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> Notification | None:
        return session.get(Notification, ident, with_for_update=True)

    def why_not(self, session: Session, record: Notification) -> str | None:
        if not record.user.active:
            return "the account is deactivated"
        return why_not(session, record.incident, record.user, record.created_at)

    def targets(self, session: Session, record: Notification) -> list[Target] | Refusal:
        method = record.contact_method
        if method is None or not method.enabled:
            gone = "was deleted" if method is None else "is disabled"
            return Refusal(f"the contact method {gone}", failed=True)
        return [method_target(session, method, self._message(session, record), self.channels,
                              self.settings)]  # fmt: skip

    def _message(self, session: Session, record: Notification) -> PageMessage:
        incident, user = record.incident, record.user
        base = self.settings.base_url.rstrip("/")
        hours = self.settings.action_link_hours
        ack, ack_row = links.issue(
            session, incident=incident, user=user, action=ActionKind.acknowledge, hours=hours
        )
        resolve, _ = links.issue(
            session, incident=incident, user=user, action=ActionKind.resolve, hours=hours
        )
        return page_message(
            incident,
            recipient_name=user.name,
            reason=record.reason,
            base_url=base,
            acknowledge_url=f"{base}/act/{ack}",
            resolve_url=f"{base}/act/{resolve}",
            links_expire_at=ack_row.expires_at,
            delivery_id=f"tocsin-notification-{record.id}",  # the same on every attempt
            # Someone outside a private incident is told its codename only.
            outside_name=None if can_see(session, user, incident) else outside_name(incident),
        )

    def attempted(self, session: Session, record: Notification, results: list[Any]) -> None:
        method = record.contact_method
        incident = record.incident.reference
        for result in results:
            if method is not None and result.key == str(method.id):
                what = f"page for {incident} sent" if result.ok else f"failed: {result.detail}"
                remember(method, ok=result.ok, result=what)
        return None

    def concluded(self, session: Session, record: Notification, outcome: Outcome) -> None:
        name = channel_name(record.contact_method, record.channel)
        person = record.user.name
        if outcome.sent:
            text = f"Paged {person} by {name} ({record.method_label})"
            record_entry(session, record.incident, text, body=record.reason)
            method_id = record.contact_method_id or 0
            emit(session, NotificationSent(record.id, record.incident_id, record.user_id,
                                           method_id, record.channel))  # fmt: skip
            return
        fallback = plan_fallback(session, record)
        then = (
            f"trying {channel_name(fallback.contact_method, fallback.channel)} "
            f"({fallback.method_label})"
            if fallback is not None
            else "no other contact method left to try"
        )
        failures = "; ".join(f.split(": ", 1)[-1] for f in outcome.failed)
        tries = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        text = f"{name.capitalize()} to {person} failed{tries}: {failures}; {then}"
        record_entry(session, record.incident, text, body=record.reason)


def record_entry(session: Session, incident: Incident, text: str, *, body: str) -> None:
    record(session, incident, "notification", text, by=None, body=body)


def send_test(
    session: Session, method_id: int, *, channels: Channels, settings: Settings
) -> Send | None:
    """Send a test message through one contact method and remember the result on it."""
    method = session.get(ContactMethod, method_id)
    if method is None:
        return None
    settings_url = f"{settings.base_url.rstrip('/')}/users/{method.user_id}/notifications"
    message = test_message(
        recipient_name=method.user.name, method_label=method.label, settings_url=settings_url
    )
    target = method_target(session, method, message, channels, settings)

    def perform() -> str | None:
        try:
            target.send()
        except DeliveryFailed as exc:
            return exc.reason
        return None

    def done(session: Session, failure: str | None, error: BaseException | None) -> None:
        found = session.get(ContactMethod, method_id)
        if found is None:
            return
        failure = failure or (str(error) if error else None)
        if failure:
            remember(found, ok=False, result=f"test failed: {failure}")
        else:
            remember(found, ok=True, result="test sent")

    return Send(perform=perform, record=done)


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handlers bootstrap registers for pages and test messages."""

    def test_job(session: Session, payload: dict[str, Any]) -> Send | None:
        return send_test(session, int(payload["contact_method_id"]), channels=channels,
                         settings=settings)  # fmt: skip

    policy = RetryPolicy.from_settings(settings)
    return {DELIVER_JOB: handler(Pages(channels, settings), policy), TEST_JOB: test_job}
