"""Service accounts: users that are not people (`User.kind` "service"). An admin creates one
with a role; it owns API tokens and acts only through them. It has no password and no contact
methods, never signs in in a browser, is never paged nor on call, and is not listed among
people. What it does is attributed to it on timelines and in the audit trail, like a
person's."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record
from tocsin.catalog.models import User, UserKind, UserRole
from tocsin.errors import NotFound, ValidationFailed

# A service account's email is never written to: `.invalid` is reserved (RFC 2606).
EMAIL_DOMAIN = "service-accounts.invalid"
NAME_MAX = 120


def _email_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "service"
    return f"{slug}-{secrets.token_hex(4)}@{EMAIL_DOMAIN}"


def list_service_accounts(session: Session) -> list[User]:
    """Every service account, active first, by name."""
    query = select(User).where(User.kind == UserKind.service.value)
    return list(session.scalars(query.order_by(User.active.desc(), User.name, User.id)))


def get_service_account(session: Session, account_id: int) -> User:
    account = session.get(User, account_id)
    if account is None or account.is_person:
        raise NotFound(f"no service account with id {account_id}")
    return account


def create_service_account(
    session: Session, *, name: str, role: str = UserRole.viewer.value
) -> User:
    """A new active service account with this role (viewer by default)."""
    account = User(
        name=v.text(name, "name", max_len=NAME_MAX, required=True),
        email=_email_for(name),
        role=v.one_of(role, "role", [r.value for r in UserRole]),
        kind=UserKind.service.value,
        password_hash=None,
    )
    session.add(account)
    session.flush()
    record(
        session,
        "service_account.created",
        target_type="user",
        target_id=account.id,
        target=account.name,
        detail={"name": account.name, "role": account.role},
    )
    return account


def update_service_account(session: Session, account: User, changes: dict[str, Any]) -> User:
    """Rename it, change its role, deactivate or reactivate it. A deactivated account's
    tokens are refused until it is active again."""
    unknown = set(changes) - {"name", "role", "active"}
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    before = {"name": account.name, "role": account.role, "active": account.active}
    if "name" in changes:
        account.name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
    if "role" in changes:
        account.role = v.one_of(changes["role"], "role", [r.value for r in UserRole])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ValidationFailed("active must be true or false", field="active")
        account.active = changes["active"]
    after = {"name": account.name, "role": account.role, "active": account.active}
    session.flush()
    changed = {
        key: {"old": before[key], "new": after[key]} for key in before if before[key] != after[key]
    }
    if not changed:
        return account
    if "role" in changed:
        record(
            session,
            "permission.changed",
            target_type="user",
            target_id=account.id,
            target=account.name,
            detail={"role": changed["role"], "service_account": True},
        )
    if "active" in changed:
        action = "service_account.reactivated" if account.active else "service_account.deactivated"
        record(session, action, target_type="user", target_id=account.id, target=account.name)
    if "name" in changed:
        record(
            session,
            "service_account.renamed",
            target_type="user",
            target_id=account.id,
            target=account.name,
            detail={"name": changed["name"]},
        )
    return account
