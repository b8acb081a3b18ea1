"""The `notifications` section: per person (by email), their contact methods (matched by
label) and their notification rules.

Apprise URLs usually hold tokens, so exports leave them out: an exported Apprise method has
no `target`, and applying it keeps the stored URL. A webhook's signing secret is never in the
file either; a webhook created by `apply` gets its secret from "New signing secret" on the
person's notifications page. When a person's `rules` are listed, they become exactly that
person's rules (the order of a list is the point of it); methods missing from the file are
left alone, like everything else `apply` does not delete. `shift_notifications` sets the
person's shift notices (on or off, minutes of lead time); left out, they stay as they are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.configfile.alerting import NewKey
from tocsin.errors import DomainError, ValidationFailed
from tocsin.notify import methods, shifts
from tocsin.notify.models import ContactKind, ContactMethod, NotificationRule, ShiftPreference
from tocsin.notify.service import contact_methods

Doc = dict[str, Any]


def _method_doc(method: ContactMethod) -> Doc:
    doc: Doc = {"label": method.label, "kind": method.kind}
    if method.kind != ContactKind.apprise:
        doc["target"] = method.target
    if not method.enabled:
        doc["enabled"] = False
    return doc


def current(session: Session) -> dict[str, Doc]:
    """Every person with contact methods, keyed by email."""
    out: dict[str, Doc] = {}
    for user in session.scalars(select(User).order_by(User.email)):
        own = contact_methods(session, user)
        if not own:
            continue
        labels = {m.id: m.label for m in own}
        out[user.email] = {
            "user": user.email,
            "contact_methods": [_method_doc(m) for m in own],
            "rules": [
                {
                    "urgency": r.urgency,
                    "delay_minutes": r.delay_minutes,
                    "contact_method": labels[r.contact_method_id],
                }
                for r in methods.rules_of(session, user)
            ],
        }
        chosen = session.get(ShiftPreference, user.id)
        if chosen is not None:
            out[user.email]["shift_notifications"] = {
                "enabled": chosen.enabled,
                "lead_minutes": chosen.lead_minutes,
            }
    return out


def _prefixed(exc: DomainError, where: str) -> DomainError:
    exc.field = f"{where}.{exc.field}" if exc.field else where
    return exc


def _method(session: Session, user: User, doc: Doc, settings: Settings) -> list[str]:
    existing = {m.label.lower(): m for m in contact_methods(session, user)}
    found = existing.get(doc["label"].strip().lower())
    if found is None:
        if not doc.get("target"):
            raise ValidationFailed("target is required for a new contact method", field="target")
        methods.create_contact_method(
            session, user, by=user, settings=settings,
            kind=doc["kind"], target=doc["target"], label=doc["label"],
        )  # fmt: skip
        return [f"create contact method {doc['label']!r} for {user.email}"]
    if found.kind != doc["kind"]:
        raise ValidationFailed(
            f"{found.label!r} is a {found.kind} method; add one with another label instead",
            field="kind",
        )
    changes: Doc = {}
    if doc.get("target") and doc["target"] not in (found.target, methods.display_target(found)):
        changes["target"] = doc["target"]
    if doc["enabled"] != found.enabled:
        changes["enabled"] = doc["enabled"]
    if not changes:
        return []
    methods.update_contact_method(session, found, changes, by=user, settings=settings)
    return [f"update contact method {found.label!r} for {user.email}: {', '.join(changes)}"]


def _rules(session: Session, user: User, rules: list[Doc]) -> list[str]:
    by_label = {m.label.lower(): m for m in contact_methods(session, user)}
    wanted = []
    for index, rule in enumerate(rules):
        method = by_label.get(rule["contact_method"].strip().lower())
        if method is None:
            raise ValidationFailed(
                f"{user.email} has no contact method labelled {rule['contact_method']!r}",
                field=f"rules[{index}].contact_method",
            )
        wanted.append((rule["urgency"], rule["delay_minutes"], method.id))
    have = [
        (r.urgency, r.delay_minutes, r.contact_method_id) for r in methods.rules_of(session, user)
    ]
    if _per_urgency(have) == _per_urgency(wanted):
        return []
    for old in session.scalars(select(NotificationRule).where(NotificationRule.user_id == user.id)):
        session.delete(old)
    session.flush()
    for index, (urgency, delay, method_id) in enumerate(wanted):
        try:
            methods.create_rule(
                session, user, by=user, urgency=urgency,
                contact_method_id=method_id, delay_minutes=delay,
            )  # fmt: skip
        except DomainError as exc:
            raise _prefixed(exc, f"rules[{index}]") from exc
    return [f"set {len(wanted)} notification rule(s) for {user.email}"]


def _per_urgency(rules: list[tuple[str, int, int]]) -> dict[str, list[tuple[int, int]]]:
    """Rules in order within each urgency (the order across urgencies does not matter)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for urgency, delay, method_id in rules:
        out.setdefault(urgency, []).append((delay, method_id))
    return out


def reconcile(session: Session, email: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the person's contact methods and rules match the document."""
    user = catalog.user_by_email(session, email)
    if user is None:
        raise ValidationFailed(f"no user with email {email!r}", field="user")
    # `tocsin apply` runs in the CLI, whose settings come from the environment (TOCSIN_*):
    # they decide which webhook hosts are allowed.
    settings = Settings()
    lines: list[str] = []
    for index, item in enumerate(doc["contact_methods"]):
        try:
            lines += _method(session, user, item, settings)
        except DomainError as exc:
            raise _prefixed(exc, f"contact_methods[{index}]") from exc
    if doc["rules"] is not None:
        lines += _rules(session, user, doc["rules"])
    if doc.get("shift_notifications") is not None:
        lines += _shift_notifications(session, user, doc["shift_notifications"])
    return lines


def _shift_notifications(session: Session, user: User, doc: Doc) -> list[str]:
    have = shifts.preference(session, user)
    if (have.enabled, have.lead_minutes) == (doc["enabled"], doc["lead_minutes"]):
        return []
    changes = {"shift_notifications": doc["enabled"], "lead_minutes": doc["lead_minutes"]}
    try:
        shifts.update_preference(session, user, changes, by=user)
    except DomainError as exc:
        raise _prefixed(exc, "shift_notifications") from exc
    state = f"on, {doc['lead_minutes']} min before a shift" if doc["enabled"] else "off"
    return [f"set shift notifications for {user.email}: {state}"]
