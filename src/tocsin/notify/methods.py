"""Service functions for a person's contact methods and notification rules.

People change their own; admins change anyone's. Every check names the field it refuses."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.errors import Forbidden, NotFound, UnknownReference, ValidationFailed
from tocsin.jobs.queue import enqueue
from tocsin.notify.channels import (
    REFUSED_APPRISE_SCHEMES,
    apprise_plugin,
    apprise_scheme,
    check_apprise_host,
    mask_apprise_url,
)
from tocsin.notify.models import URGENCIES, ContactKind, ContactMethod, NotificationRule
from tocsin.notify.pages import webhook_secret
from tocsin.notify.service import TEST_JOB
from tocsin.outbound import OutboundGuard, OutboundRefused

KINDS = tuple(k.value for k in ContactKind)
MAX_POSITION = 100
MAX_DELAY_MINUTES = 24 * 60


def check_can_manage(by: User, owner: User) -> None:
    if by.id != owner.id and not by.can(UserRole.admin):
        raise Forbidden("only admins can change another person's notification settings")


def check_target(kind: str, target: object, guard: OutboundGuard) -> str:
    """Validate a contact method's address for its kind (raises ValidationFailed on target)."""
    if kind == ContactKind.email:
        return v.email(target, "target")
    value = v.text(target, "target", max_len=2048, required=True)
    if kind == ContactKind.chat:
        if not value.isdigit() or len(value) > 12:
            raise ValidationFailed(
                "target: for chat, the id of the chat connection (Settings → Chat) whose bot "
                "messages you; your chat account must be linked there",
                field="target",
            )
        return value
    if kind == ContactKind.webhook:
        value = v.url(value, "target")
        host = urlsplit(value).hostname or ""
        try:
            guard.check_host(host, urlsplit(value).port)
        except OutboundRefused as exc:
            raise ValidationFailed(f"target: {exc.reason}", field="target") from exc
        return value
    scheme = apprise_scheme(value)
    if scheme in REFUSED_APPRISE_SCHEMES:
        raise ValidationFailed(
            "target: for email, add a contact method of kind email (it uses Tocsin's mail relay)",
            field="target",
        )
    plugin = apprise_plugin(value)
    if plugin is None:
        raise ValidationFailed(
            f"target: Apprise does not understand this URL (scheme {scheme or 'missing'!r}); "
            "see docs/notifications.md for examples",
            field="target",
        )
    try:
        check_apprise_host(value, plugin, guard)
    except OutboundRefused as exc:
        raise ValidationFailed(f"target: {exc.reason}", field="target") from exc
    return value


def display_target(method: ContactMethod) -> str:
    """The target as shown back: Apprise URLs masked (they often embed tokens)."""
    if method.kind == ContactKind.apprise:
        return mask_apprise_url(method.target)
    return method.target


def get_contact_method(session: Session, method_id: int) -> ContactMethod:
    method = session.get(ContactMethod, method_id)
    if method is None:
        raise NotFound(f"contact method {method_id} not found")
    return method


def get_rule(session: Session, rule_id: int) -> NotificationRule:
    rule = session.get(NotificationRule, rule_id)
    if rule is None:
        raise NotFound(f"notification rule {rule_id} not found")
    return rule


def create_contact_method(
    session: Session,
    owner: User,
    *,
    by: User,
    kind: str,
    target: str,
    label: str = "",
    settings: Settings | None = None,
) -> tuple[ContactMethod, str | None]:
    """Add a contact method. For a webhook the signing secret is returned (shown this once)
    when `settings` are given; without them the outbound guard is at its strictest."""
    check_can_manage(by, owner)
    if not owner.is_person:
        raise ValidationFailed(
            f"{owner.name} is a service account: it is never paged and has no contact methods",
            field="user_id",
        )
    kind = v.one_of(kind, "kind", KINDS)
    guard = OutboundGuard.from_settings(settings) if settings is not None else OutboundGuard()
    target = check_target(kind, target, guard)
    label = v.text(label, "label", max_len=120) or _default_label(kind, target)
    method = ContactMethod(
        user_id=owner.id,
        kind=kind,
        label=label,
        target=target,
        signing_salt=secrets.token_hex(16) if kind == ContactKind.webhook else "",
        created_at=utcnow(),
    )
    session.add(method)
    session.flush()
    if kind != ContactKind.webhook or settings is None:
        return method, None
    return method, webhook_secret(settings.secret_key, method)


def _default_label(kind: str, target: str) -> str:
    if kind == ContactKind.email:
        return target[:120]
    if kind == ContactKind.chat:
        return "Chat"
    if kind == ContactKind.webhook:
        return f"Webhook {urlsplit(target).hostname}"[:120]
    plugin = apprise_plugin(target)
    return str(getattr(plugin, "service_name", "") or "Apprise")[:120]


def update_contact_method(
    session: Session,
    method: ContactMethod,
    changes: dict[str, Any],
    *,
    by: User,
    settings: Settings,
) -> ContactMethod:
    """Change label, target or enabled (the kind stays: add another method instead)."""
    check_can_manage(by, method.user)
    unknown = set(changes) - {"label", "target", "enabled"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"{name} cannot be changed", field=name)
    if "target" in changes and changes["target"] != display_target(method):
        method.target = check_target(
            method.kind, changes["target"], OutboundGuard.from_settings(settings)
        )
        method.last_ok = None
        method.last_result = ""
        method.consecutive_failures = 0
    if "label" in changes:
        method.label = v.text(changes["label"], "label", max_len=120, required=True)
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise ValidationFailed("enabled must be true or false", field="enabled")
        method.enabled = changes["enabled"]
    session.flush()
    return method


def rotate_webhook_secret(
    session: Session, method: ContactMethod, *, by: User, settings: Settings
) -> str:
    """A new signing secret (shown this once); the old one stops matching at once."""
    check_can_manage(by, method.user)
    if method.kind != ContactKind.webhook:
        raise ValidationFailed("only webhook contact methods have a signing secret", field="kind")
    method.signing_salt = secrets.token_hex(16)
    session.flush()
    return webhook_secret(settings.secret_key, method)


def delete_contact_method(session: Session, method: ContactMethod, *, by: User) -> None:
    """Delete a method and the rules that use it; past notifications keep their record."""
    check_can_manage(by, method.user)
    session.delete(method)
    session.flush()


def request_test(session: Session, method: ContactMethod, *, by: User) -> None:
    """Queue a test message through this method; its result shows on the method."""
    check_can_manage(by, method.user)
    method.last_result = f"test requested by {by.name}"
    method.last_ok = None
    method.last_result_at = utcnow()
    enqueue(session, TEST_JOB, {"contact_method_id": method.id, "requested_by": by.id})
    session.flush()


# --- rules ----------------------------------------------------------------------------------


def rules_of(session: Session, owner: User) -> list[NotificationRule]:
    return list(
        session.scalars(
            select(NotificationRule)
            .where(NotificationRule.user_id == owner.id)
            .order_by(NotificationRule.urgency, NotificationRule.position)
        )
    )


def _method_of(session: Session, owner: User, method_id: object) -> ContactMethod:
    if isinstance(method_id, bool) or not isinstance(method_id, int):
        raise ValidationFailed(
            "contact_method_id must be a contact method's id", field="contact_method_id"
        )
    method = session.get(ContactMethod, method_id)
    if method is None or method.user_id != owner.id:
        raise UnknownReference(
            f"contact_method_id: {owner.name} has no contact method {method_id}",
            field="contact_method_id",
        )
    return method


def _check_position_free(
    session: Session, owner: User, urgency: str, position: int, rule_id: int | None = None
) -> None:
    taken = session.scalar(
        select(NotificationRule.id).where(
            NotificationRule.user_id == owner.id,
            NotificationRule.urgency == urgency,
            NotificationRule.position == position,
        )
    )
    if taken is not None and taken != rule_id:
        raise ValidationFailed(
            f"position: there is already a {urgency}-urgency rule at position {position}",
            field="position",
        )


def create_rule(
    session: Session,
    owner: User,
    *,
    by: User,
    urgency: str,
    contact_method_id: int,
    delay_minutes: int = 0,
    position: int | None = None,
) -> NotificationRule:
    """Add 'after `delay_minutes`, notify me through this method' for one urgency."""
    check_can_manage(by, owner)
    urgency = v.one_of(urgency, "urgency", URGENCIES)
    method = _method_of(session, owner, contact_method_id)
    delay = v.integer(delay_minutes, "delay_minutes", minimum=0, maximum=MAX_DELAY_MINUTES)
    if position is None:
        highest = session.scalar(
            select(func.max(NotificationRule.position)).where(
                NotificationRule.user_id == owner.id, NotificationRule.urgency == urgency
            )
        )
        position = (highest or 0) + 1
    position = v.integer(position, "position", minimum=1, maximum=MAX_POSITION)
    _check_position_free(session, owner, urgency, position)
    rule = NotificationRule(
        user_id=owner.id,
        urgency=urgency,
        position=position,
        delay_minutes=delay,
        contact_method_id=method.id,
        created_at=utcnow(),
    )
    session.add(rule)
    session.flush()
    return rule


def update_rule(
    session: Session, rule: NotificationRule, changes: dict[str, Any], *, by: User
) -> NotificationRule:
    owner = session.get(User, rule.user_id)
    assert owner is not None
    check_can_manage(by, owner)
    unknown = set(changes) - {"urgency", "position", "delay_minutes", "contact_method_id"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"{name} cannot be changed", field=name)
    urgency = v.one_of(changes.get("urgency", rule.urgency), "urgency", URGENCIES)
    position = v.integer(
        changes.get("position", rule.position), "position", minimum=1, maximum=MAX_POSITION
    )
    delay = v.integer(
        changes.get("delay_minutes", rule.delay_minutes),
        "delay_minutes",
        minimum=0,
        maximum=MAX_DELAY_MINUTES,
    )
    method = _method_of(session, owner, changes.get("contact_method_id", rule.contact_method_id))
    _check_position_free(session, owner, urgency, position, rule.id)
    rule.urgency, rule.position, rule.delay_minutes = urgency, position, delay
    rule.contact_method_id = method.id
    session.flush()
    return rule


def delete_rule(session: Session, rule: NotificationRule, *, by: User) -> None:
    owner = session.get(User, rule.user_id)
    assert owner is not None
    check_can_manage(by, owner)
    session.delete(rule)
    session.flush()
