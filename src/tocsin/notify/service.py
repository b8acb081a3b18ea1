"""Paging people: planning deliveries from their notification rules, and the notifications of
an incident. Contact methods and rules are changed in `notify.settings`; deliveries run in
`notify.delivery`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue
from tocsin.notify.models import (
    ContactMethod,
    Notification,
    NotificationRule,
    NotificationState,
)

DELIVER_JOB = "notify.deliver"
TEST_JOB = "notify.test"
# rule_position recorded when a user has no rules for the urgency: every method at once.
DEFAULT_POSITION = 0


def _rules(session: Session, user: User, urgency: str) -> list[NotificationRule]:
    return list(
        session.scalars(
            select(NotificationRule)
            .where(NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
            .options(selectinload(NotificationRule.contact_method))
            .order_by(NotificationRule.position)
        )
    )


def contact_methods(session: Session, user: User) -> list[ContactMethod]:
    return list(
        session.scalars(
            select(ContactMethod).where(ContactMethod.user_id == user.id).order_by(ContactMethod.id)
        )
    )


def _when(delay_minutes: int) -> str:
    return "now" if delay_minutes == 0 else f"after {delay_minutes} min"


def _insert_once(session: Session, notification: Notification) -> bool:
    """Insert unless its idempotency key exists (checked first, then enforced by the index:
    a concurrent page of the same person for the same key loses at the savepoint)."""
    exists = session.scalar(
        select(Notification.id).where(Notification.idempotency_key == notification.idempotency_key)
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(notification)
            session.flush()
    except IntegrityError:
        return False
    return True


def _plan(
    session: Session,
    *,
    incident: Incident,
    user: User,
    method: ContactMethod,
    page_key: str,
    key: str,
    position: int | None,
    delay_minutes: int,
    reason: str,
) -> Notification | None:
    now = utcnow()
    due = now + timedelta(minutes=delay_minutes)
    notification = Notification(
        incident_id=incident.id,
        user_id=user.id,
        contact_method_id=method.id,
        channel=method.kind,
        method_label=method.label,
        rule_position=position,
        reason=reason,
        page_key=page_key,
        idempotency_key=key,
        state=NotificationState.planned.value,
        planned_at=due,
        created_at=now,
        updated_at=now,
    )
    if not _insert_once(session, notification):
        return None
    enqueue(session, DELIVER_JOB, {"notification_id": notification.id}, run_at=due)
    return notification


@dataclass(frozen=True)
class RuleStep:
    """One delivery a page plans: through `method`, `delay_minutes` after the page."""

    method: ContactMethod
    position: int
    delay_minutes: int


def plan_rules(session: Session, user: User, urgency: str) -> tuple[list[RuleStep], str]:
    """The deliveries paging `user` at `urgency` plans, in order, and a note when they come
    from the fallback (no rules for the urgency: every enabled method at once). Empty when
    the person has no enabled contact method. Reads only: a dry run calls it too."""
    rules = [r for r in _rules(session, user, urgency) if r.contact_method.enabled]
    steps = [RuleStep(r.contact_method, r.position, r.delay_minutes) for r in rules]
    if steps:
        return steps, ""
    methods = [m for m in contact_methods(session, user) if m.enabled]
    if not methods:
        return [], ""
    return [RuleStep(m, DEFAULT_POSITION, 0) for m in methods], (
        f"{user.name} has no notification rules for {urgency} urgency: all contact methods at once"
    )


def page_user(
    session: Session,
    *,
    incident: Incident,
    user: User,
    reason: str,
    key: str,
    urgency: str | None = None,
) -> list[Notification]:
    """Plan `user`'s notification rules for `urgency` (default: the incident's): one delivery
    job per rule at now + its delay. Paging the same person again with the same `key` plans
    nothing new. Returns the newly planned notifications."""
    page_key = f"{key}:{user.id}"
    if not user.is_person:
        return []  # a service account is never paged (nor can it be chosen to be)
    if not user.active:
        record(
            session,
            incident,
            "notification",
            f"{user.name} was not paged: the account is deactivated",
            by=None,
            body=reason,
        )
        return []
    steps, fallback_note = plan_rules(session, user, urgency or incident.urgency)
    if not steps:
        if session.scalar(select(Notification.id).where(Notification.page_key == page_key)):
            return []
        record(
            session,
            incident,
            "notification",
            f"{user.name} could not be paged: no enabled contact method",
            by=None,
            body=reason,
        )
        return []
    planned: list[tuple[Notification, int]] = []
    for step in steps:
        method, position, delay = step.method, step.position, step.delay_minutes
        notification = _plan(
            session,
            incident=incident,
            user=user,
            method=method,
            page_key=page_key,
            key=f"{page_key}:{method.id}:{position}",
            position=position,
            delay_minutes=delay,
            reason=reason,
        )
        if notification is not None:
            planned.append((notification, delay))
    if planned:
        plan = "; ".join(f"{n.method_label} ({n.channel}) {_when(d)}" for n, d in planned)
        body = reason if not fallback_note else f"{reason}\n\n{fallback_note}"
        record(session, incident, "notification", f"Paging {user.name}: {plan}", by=None, body=body)
    return [n for n, _ in planned]


def plan_fallback(session: Session, failed: Notification) -> Notification | None:
    """After `failed` used up its attempts: the user's next enabled contact method not yet
    tried for this page, sent now. None when every method has been tried."""
    tried = set(
        session.scalars(
            select(Notification.contact_method_id).where(
                Notification.page_key == failed.page_key,
                Notification.incident_id == failed.incident_id,
            )
        )
    )
    for method in contact_methods(session, failed.user):
        if method.enabled and method.id not in tried:
            return _plan(
                session,
                incident=failed.incident,
                user=failed.user,
                method=method,
                page_key=failed.page_key,
                key=f"{failed.page_key}:{method.id}:fallback",
                position=None,
                delay_minutes=0,
                reason=f"{failed.reason} (fallback: {failed.method_label} failed)",
            )
    return None


def cancel_pending(
    session: Session, incident: Incident, *, reason: str, user: User | None = None
) -> int:
    """Cancel the incident's planned deliveries (all, or one person's). Returns how many."""
    query = select(Notification).where(
        Notification.incident_id == incident.id,
        Notification.state == NotificationState.planned.value,
    )
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    rows = list(session.scalars(query))
    now = utcnow()
    for row in rows:
        row.state = NotificationState.cancelled.value
        row.detail = f"not sent: {reason}"
        row.updated_at = now
    session.flush()
    return len(rows)


def notifications_for(session: Session, incident_id: int) -> list[Notification]:
    """Every planned or attempted delivery for an incident, in the order they were planned."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.incident_id == incident_id)
            .options(selectinload(Notification.user), selectinload(Notification.contact_method))
            .order_by(Notification.planned_at, Notification.id)
        )
    )


def notifications_of_user(session: Session, user: User, *, limit: int = 50) -> list[Notification]:
    """The most recent deliveries to one person (their notification page)."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .options(selectinload(Notification.incident))
            .order_by(Notification.planned_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )
