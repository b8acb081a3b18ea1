"""SCIM Users: catalog's users as RFC 7643 resources, created, replaced and deprovisioned
through catalog's and auth's service functions. userName is the email address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin import validation as v
from tocsin.audit.trail import record
from tocsin.auth import service as auth
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Conflict, ValidationFailed
from tocsin.scim.errors import ScimError
from tocsin.scim.filters import Compare, Filter, matches
from tocsin.scim.models import ScimUser
from tocsin.scim.resources import Page, meta, versioned
from tocsin.scim.schema import ENTERPRISE_SCHEMA, USER, USER_SCHEMA, validate

# Kept on the user itself; everything else sent is kept in ScimUser.document.
ON_USER = ("userName", "displayName", "active", "timezone", "password", "externalId")


def _link(session: Session, user: User) -> ScimUser | None:
    return session.get(ScimUser, user.id)


def get_user(session: Session, user_id: str) -> tuple[User, ScimUser | None]:
    """The user SCIM knows by `user_id`; ScimError 404 for none (or one SCIM deleted)."""
    user = session.get(User, int(user_id)) if user_id.isdigit() and len(user_id) < 10 else None
    link = _link(session, user) if user is not None else None
    if user is None or (link is not None and link.deleted_at is not None):
        raise ScimError(404, None, f"no user with id {user_id!r}")
    return user, link


def render(user: User, link: ScimUser | None, base: str) -> dict[str, Any]:
    """The user as a SCIM resource, with `meta` (its version a weak ETag)."""
    doc = dict(link.document) if link is not None else {}
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA, *([ENTERPRISE_SCHEMA] if ENTERPRISE_SCHEMA in doc else [])],
        "id": str(user.id),
    }
    if link is not None and link.external_id:
        resource["externalId"] = link.external_id
    resource["userName"] = user.email
    resource["name"] = doc.pop("name", None) or {"formatted": user.name}
    resource["displayName"] = user.name
    resource.update(doc)
    resource.setdefault("emails", [{"value": user.email, "type": "work", "primary": True}])
    resource["timezone"] = user.timezone
    resource["active"] = user.active
    resource["groups"] = [
        {"value": str(t.id), "display": t.name, "$ref": f"{base}/Groups/{t.id}", "type": "direct"}
        for t in user.teams
    ]
    created = link.created_at if link is not None else user.created_at
    modified = link.updated_at if link is not None else user.created_at
    resource["meta"] = meta("User", created, modified, f"{base}/Users/{user.id}")
    return versioned(resource)


def list_users(session: Session, base: str, where: Filter | None, start: int, count: int) -> Page:
    """Users matching `where` (every one SCIM has not deleted), by id, one page."""
    query = select(User).options(selectinload(User.teams)).order_by(User.id)
    if isinstance(where, Compare) and where.op == "eq" and isinstance(where.value, str):
        # The identity providers' lookup before creating someone: one row, not every user.
        if where.path.attr.lower() == "username" and where.path.sub is None:
            query = query.where(User.email == where.value.strip().lower())
        elif where.path.attr.lower() == "externalid":
            query = query.join(ScimUser, ScimUser.user_id == User.id).where(
                ScimUser.external_id == where.value
            )
    links = {link.user_id: link for link in session.scalars(select(ScimUser))}
    found = []
    for user in session.scalars(query):
        link = links.get(user.id)
        if link is not None and link.deleted_at is not None:
            continue
        resource = render(user, link, base)
        if where is None or matches(where, resource):
            found.append(resource)
    return Page(found, start, count)


def _primary_email(doc: Mapping[str, Any]) -> list[str]:
    emails = doc.get("emails") or []
    return [str(e["value"]).strip().lower() for e in emails if isinstance(e.get("value"), str)]


def _checked(session: Session, doc: Mapping[str, Any], user: User | None) -> dict[str, Any]:
    """What the user's own fields become: email, name, time zone; ScimError 400 for a bad
    value, 409 uniqueness for an email another user has."""
    try:
        email = v.email(doc["userName"], "userName")
    except ValidationFailed as exc:
        raise ScimError(400, "invalidValue", exc.message) from exc
    for address in [email, *_primary_email(doc)]:
        other = catalog.user_by_email(session, address)
        if other is not None and other is not user:
            link = _link(session, other)
            if user is None and address == email and link is not None and link.deleted_at:
                continue  # a user SCIM deleted, provisioned again (see create_user)
            raise ScimError(409, "uniqueness", f"another user already has the email {address}")
    name_parts = doc.get("name") or {}
    name = (
        doc.get("displayName")
        or name_parts.get("formatted")
        or " ".join(p for p in (name_parts.get("givenName"), name_parts.get("familyName")) if p)
        or email.split("@")[0]
    )
    out: dict[str, Any] = {"email": email, "name": name.strip()[:120]}
    if doc.get("timezone"):
        try:
            out["timezone"] = v.timezone(doc["timezone"])
        except ValidationFailed as exc:
            raise ScimError(400, "invalidValue", exc.message) from exc
    if doc.get("password"):
        out["password"] = doc["password"]
    return out


def _document(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in doc.items() if k not in ON_USER}


def _catalog(call: Any, *args: Any) -> Any:
    """A catalog or auth service call, its refusal as a SCIM error."""
    try:
        return call(*args)
    except ValidationFailed as exc:
        raise ScimError(400, "invalidValue", exc.message) from exc
    except Conflict as exc:
        raise ScimError(409, None, exc.message) from exc


def create_user(session: Session, body: Any) -> tuple[User, ScimUser]:
    """Provision a person from a SCIM User body (a responder, like anyone Tocsin adds);
    one SCIM deleted before comes back with the same id."""
    doc = validate(USER, body)
    fields = _checked(session, doc, None)
    returning = catalog.user_by_email(session, fields["email"])
    if returning is not None:
        doc = {**doc, "active": doc.get("active", True)}
        link = _link(session, returning)
        assert link is not None
        link.deleted_at = None
        _write(  # coming back: active unless the body says otherwise
            session, returning, link, doc, fields, "scim.user_created"
        )
        return returning, link
    user = _catalog(
        lambda: catalog.create_user(
            session,
            name=fields["name"],
            email=fields["email"],
            timezone=fields.get("timezone", "UTC"),
            password=fields.get("password"),
        )
    )
    link = ScimUser(
        user_id=user.id,
        external_id=doc.get("externalId"),
        document=_document(doc),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(link)
    session.flush()
    if doc.get("active") is False:
        _catalog(auth.deactivate_user, session, user)
    record(
        session,
        "scim.user_created",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={
            "email": user.email,
            "name": user.name,
            "external_id": link.external_id,
            "active": user.active,
        },
    )
    return user, link


def replace_user(session: Session, user: User, link: ScimUser | None, body: Any) -> ScimUser:
    """A PUT (or the result of a PATCH): the user becomes what `body` says."""
    doc = validate(USER, body)
    fields = _checked(session, doc, user)
    if link is None:
        link = ScimUser(user_id=user.id, document={}, created_at=utcnow())
        session.add(link)
    _write(session, user, link, doc, fields, "scim.user_updated")
    return link


def _write(
    session: Session,
    user: User,
    link: ScimUser,
    doc: Mapping[str, Any],
    fields: dict[str, Any],
    action: str,
) -> None:
    before = {
        "email": user.email,
        "name": user.name,
        "timezone": user.timezone,
        "external_id": link.external_id,
        "active": user.active,
    }
    changes = {k: val for k, val in fields.items() if k == "password" or before.get(k) != val}
    if changes:
        _catalog(catalog.update_user, session, user, changes)
    link.external_id = doc.get("externalId")
    link.document = _document(doc)
    link.updated_at = utcnow()
    active = doc.get("active")
    if active is False and user.active:
        ended = _catalog(auth.deactivate_user, session, user)
    elif active is True and not user.active:
        _catalog(catalog.update_user, session, user, {"active": True})
        ended = None
    else:
        ended = None
    session.flush()
    after = {
        "email": user.email,
        "name": user.name,
        "timezone": user.timezone,
        "external_id": link.external_id,
        "active": user.active,
    }
    changed = {k: {"old": before[k], "new": after[k]} for k in after if before[k] != after[k]}
    if "password" in changes:
        changed["password"] = {"old": "***", "new": "***"}
    if ended is not None:
        record(
            session,
            "scim.user_deactivated",
            target_type="user",
            target_id=user.id,
            target=user.email,
            detail={"sessions_ended": ended[0], "tokens_revoked": ended[1]},
        )
        changed.pop("active", None)
    if changed or action == "scim.user_created":
        record(
            session,
            action,
            target_type="user",
            target_id=user.id,
            target=user.email,
            detail=changed,
        )


def delete_user(session: Session, user: User, link: ScimUser | None) -> None:
    """A SCIM DELETE: the person is deactivated (history keeps them), their access ends, and
    SCIM no longer lists them."""
    if link is None:
        link = ScimUser(user_id=user.id, document={}, created_at=user.created_at)
        session.add(link)
    ended = (0, 0)
    if user.active:
        ended = _catalog(auth.deactivate_user, session, user)
    link.deleted_at = link.updated_at = utcnow()
    session.flush()
    record(
        session,
        "scim.user_deactivated",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"deleted": True, "sessions_ended": ended[0], "tokens_revoked": ended[1]},
    )
