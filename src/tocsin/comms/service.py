"""The communication channel registry: create, change, delete, and show channels safely.

Admins change channels (the routes check); every check names the field it refuses, and a
refused change writes nothing. Reach URLs are checked against the outbound guard when saved
and again by the channel before each send."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tocsin import validation as v
from tocsin.catalog.models import Service, UserRole
from tocsin.comms.models import Audience, ChannelKind, CommsChannel, Impact
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, Severity
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.notify.channels import mask_apprise_url
from tocsin.notify.methods import check_target
from tocsin.outbound import OutboundGuard

KINDS = tuple(k.value for k in ChannelKind)
AUDIENCES = tuple(a.value for a in Audience)
IMPACTS = tuple(i.value for i in Impact)
POST_USER_ROLES = (UserRole.admin.value, UserRole.responder.value)
MIN_CADENCE, MAX_CADENCE = 5, 7 * 24 * 60
TEXT_MAX = 5000
FIELDS = {
    "name", "description", "audience", "kind", "target", "instructions", "automatic",
    "paused", "severities", "services", "customer_impact", "include_restricted",
    "post_user_roles", "post_incident_roles", "cadence_minutes", "position",
}  # fmt: skip


def channel_secret(secret_key: str, channel: CommsChannel) -> str:
    """A webhook channel's signing secret: derived, so the database alone does not hold it."""
    message = f"comms-webhook:{channel.signing_salt}".encode()
    return "whsec_" + hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def display_target(channel: CommsChannel) -> str:
    """The reach URL as shown back after saving: tokens in Apprise URLs and webhook paths and
    queries are masked; list addresses are shown as they are."""
    if channel.kind == ChannelKind.apprise:
        return mask_apprise_url(channel.target)
    if channel.kind == ChannelKind.webhook:
        parts = urlsplit(channel.target)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
        return f"{parts.scheme}://{host}{port}{rest}"
    return channel.target


def list_channels(session: Session) -> list[CommsChannel]:
    """Every channel in registry order, with what its conditions name (one query each)."""
    return list(
        session.scalars(
            select(CommsChannel)
            .options(
                selectinload(CommsChannel.severities),
                selectinload(CommsChannel.services),
                selectinload(CommsChannel.post_incident_roles),
            )
            .order_by(CommsChannel.position, CommsChannel.name)
        )
    )


def get_channel(session: Session, channel_id: int) -> CommsChannel:
    channel = session.get(CommsChannel, channel_id)
    if channel is None:
        raise NotFound(f"no communication channel with id {channel_id}")
    return channel


def channel_by_name(session: Session, name: str) -> CommsChannel | None:
    return session.scalar(
        select(CommsChannel).where(func.lower(CommsChannel.name) == name.strip().lower())
    )


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return value


def _names(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationFailed(f"{field} must be a list of names", field=field)
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationFailed(f"{field} must be a list of names", field=field)
        out.append(item.strip())
    return list(dict.fromkeys(out))


def _by_names(
    session: Session, model: Any, column: Any, names: list[str], field: str, what: str
) -> list[Any]:
    found = []
    for name in names:
        row = session.scalar(select(model).where(func.lower(column) == name.lower()))
        if row is None:
            raise UnknownReference(f"{field}: no {what} named {name!r}", field=field)
        found.append(row)
    return found


def _target(kind: str, value: object, guard: OutboundGuard) -> str:
    if kind == ChannelKind.manual:
        if value not in (None, ""):
            raise ValidationFailed(
                "target: a manual channel has no address; write how to use it in instructions",
                field="target",
            )
        return ""
    if value in (None, ""):
        raise ValidationFailed(f"target is required for {kind} channels", field="target")
    # The contact method checks: Apprise understands the URL, email goes through the relay,
    # webhooks are http(s), and neither names a private address the guard refuses.
    return check_target(kind, value, guard)


def _apply(
    session: Session,
    channel: CommsChannel,
    data: dict[str, Any],
    guard: OutboundGuard,
    *,
    creating: bool,
) -> None:
    unknown = set(data) - FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"{name} is not a channel field", field=name)
    if "name" in data or creating:
        name = v.text(data.get("name"), "name", max_len=120, required=True)
        other = channel_by_name(session, name)
        if other is not None and other is not channel:
            raise Conflict(f"there is already a channel named {other.name!r}", field="name")
        channel.name = name
    if "description" in data:
        channel.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "instructions" in data:
        channel.instructions = v.text(data["instructions"], "instructions", max_len=TEXT_MAX)
    if "audience" in data or creating:
        channel.audience = v.one_of(data.get("audience", "internal"), "audience", AUDIENCES)
    kind_changed = "kind" in data and data["kind"] != channel.kind
    if creating or kind_changed:
        channel.kind = v.one_of(data.get("kind"), "kind", KINDS)
    target = data.get("target")
    shown = "" if creating or kind_changed else display_target(channel)
    if creating or kind_changed or ("target" in data and target not in (None, shown)):
        channel.target = _target(channel.kind, target, guard)
        channel.last_ok, channel.last_result = None, ""
        if channel.kind == ChannelKind.webhook and not channel.signing_salt:
            channel.signing_salt = secrets.token_hex(16)
    if "automatic" in data:
        channel.automatic = _bool(data["automatic"], "automatic")
    if "paused" in data:
        channel.paused = _bool(data["paused"], "paused")
    if "include_restricted" in data:
        channel.include_restricted = _bool(data["include_restricted"], "include_restricted")
    if "customer_impact" in data:
        channel.customer_impact = v.one_of(
            data["customer_impact"] or "any", "customer_impact", IMPACTS
        )
    if "severities" in data:
        names = _names(data["severities"], "severities")
        found = _by_names(session, Severity, Severity.name, names, "severities", "severity")
        channel.severities = sorted(found, key=lambda s: (s.rank, s.name))
    if "services" in data:
        names = _names(data["services"], "services")
        found = _by_names(session, Service, Service.name, names, "services", "service")
        channel.services = sorted(found, key=lambda s: s.name)
    if "post_user_roles" in data:
        roles = _names(data["post_user_roles"], "post_user_roles")
        for role in roles:
            v.one_of(role, "post_user_roles", POST_USER_ROLES)
        channel.post_user_roles = roles
    if "post_incident_roles" in data:
        slugs = _names(data["post_incident_roles"], "post_incident_roles")
        held = _by_names(session, IncidentRole, IncidentRole.slug, slugs,
                         "post_incident_roles", "incident role")  # fmt: skip
        channel.post_incident_roles = sorted(held, key=lambda r: (r.position, r.id))
    if "cadence_minutes" in data:
        cadence = data["cadence_minutes"]
        channel.cadence_minutes = (
            None
            if cadence in (None, 0)
            else v.integer(cadence, "cadence_minutes", minimum=MIN_CADENCE, maximum=MAX_CADENCE)
        )
    if "position" in data:
        channel.position = v.integer(data["position"], "position", minimum=0, maximum=1000)
    _check_whole(channel)


def _check_whole(channel: CommsChannel) -> None:
    """Rules across fields, checked on the channel as it would be saved."""
    if channel.kind == ChannelKind.manual:
        channel.automatic = False  # Tocsin cannot post there: someone does, and marks it
        if not channel.instructions:
            raise ValidationFailed(
                "instructions: say how to post to a manual channel (who to call, where to "
                "write, how to get access)",
                field="instructions",
            )
    if channel.audience == Audience.external and channel.include_restricted:
        raise ValidationFailed(
            "include_restricted: restricted incidents never go to an external channel",
            field="include_restricted",
        )


def create_channel(
    session: Session, data: dict[str, Any], *, settings: Settings | None = None
) -> tuple[CommsChannel, str | None]:
    """Add a channel. For a webhook the signing secret is returned (shown this once) when
    `settings` are given; without them the outbound guard is at its strictest."""
    guard = OutboundGuard.from_settings(settings) if settings is not None else OutboundGuard()
    channel = CommsChannel(created_at=utcnow(), updated_at=utcnow(), post_user_roles=[])
    _apply(session, channel, data, guard, creating=True)
    session.add(channel)
    session.flush()
    if channel.kind != ChannelKind.webhook or settings is None:
        return channel, None
    return channel, channel_secret(settings.secret_key, channel)


def update_channel(
    session: Session,
    channel: CommsChannel,
    changes: dict[str, Any],
    *,
    settings: Settings | None = None,
) -> CommsChannel:
    """Change any field. A `target` equal to the masked one shown is left as stored."""
    guard = OutboundGuard.from_settings(settings) if settings is not None else OutboundGuard()
    # Validate on the object but keep the session from flushing half a change: a refusal
    # rolls back with the caller's transaction (routes and `tocsin apply` roll back on error).
    with session.no_autoflush:
        _apply(session, channel, changes, guard, creating=False)
    channel.updated_at = utcnow()
    session.flush()
    return channel


def rotate_secret(session: Session, channel: CommsChannel, *, settings: Settings) -> str:
    """A new signing secret for a webhook channel (shown this once)."""
    if channel.kind != ChannelKind.webhook:
        raise ValidationFailed("only webhook channels have a signing secret", field="kind")
    channel.signing_salt = secrets.token_hex(16)
    channel.updated_at = utcnow()
    session.flush()
    return channel_secret(settings.secret_key, channel)


def delete_channel(session: Session, channel: CommsChannel) -> None:
    """Delete a channel; deliveries already made keep their record (and the channel's name)."""
    session.delete(channel)
    session.flush()


def remember(channel: CommsChannel, *, ok: bool, result: str) -> None:
    channel.last_ok = ok
    channel.last_result = result[:2000]
    channel.last_result_at = utcnow()
