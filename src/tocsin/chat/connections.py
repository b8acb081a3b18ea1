"""Chat connections: the only way to change them, and what the jobs and routes read of one.

A connection's credentials are one JSON object encrypted with the vault (purpose "chat"),
never shown back; a secret left out when editing keeps the stored one. Secrets Tocsin may
make itself (Mattermost's action secret, Matrix's appservice tokens) are generated when not
given.
"""

from __future__ import annotations

import json
import re
import secrets as random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.chat import channels, matrix, ports
from tocsin.chat.models import ChatConnection
from tocsin.config import Settings
from tocsin.crypto import Undecryptable, Vault
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.outbound import OutboundGuard, OutboundRefused

SECRET_MAX = 4096
NAMING_MAX = 120
PLACEHOLDERS = ("{number}", "{reference}", "{title}", "{date}")
ARCHIVE_MAX_MINUTES = 90 * 24 * 60


@dataclass(frozen=True)
class VendorInfo:
    label: str
    default_url: str
    team_label: str  # what `team` is, for messages and forms
    team_re: re.Pattern[str]
    bot_label: str
    bot_re: re.Pattern[str]
    secrets: tuple[str, ...]  # the credentials a person gives
    generated: tuple[str, ...] = ()  # the ones Tocsin makes when not given


VENDORS: dict[str, VendorInfo] = {
    "slack": VendorInfo(
        label="Slack",
        default_url="https://slack.com/api/",
        team_label="the workspace id (T0123ABCD)",
        team_re=re.compile(r"^[TE][A-Z0-9]{2,30}$"),
        bot_label="the bot's user id (U0123ABCD)",
        bot_re=re.compile(r"^[UW][A-Z0-9]{2,30}$"),
        secrets=("bot_token", "signing_secret"),
    ),
    "mattermost": VendorInfo(
        label="Mattermost",
        default_url="",
        team_label="the team id (26 letters and digits)",
        team_re=re.compile(r"^[a-z0-9]{26}$"),
        bot_label="the bot account's user id (26 letters and digits)",
        bot_re=re.compile(r"^[a-z0-9]{26}$"),
        secrets=("bot_token", "command_token"),
        generated=("action_secret",),
    ),
    "matrix": VendorInfo(
        label="Matrix",
        default_url="",
        team_label="the server name (example.org)",
        team_re=re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$"),
        bot_label="the bot's user id (@tocsin:example.org)",
        bot_re=re.compile(r"^@[a-z0-9._=/+-]+:[A-Za-z0-9.-]+(:[0-9]{1,5})?$"),
        secrets=(),
        generated=("as_token", "hs_token"),
    ),
}


def vault(settings: Settings) -> Vault:
    """The vault chat credentials are encrypted with."""
    return Vault.from_settings(settings, "chat")


def secrets_of(connection: ChatConnection, settings: Settings) -> dict[str, str]:
    """The connection's credentials, decrypted (crypto.Undecryptable if they cannot be)."""
    found = json.loads(vault(settings).decrypt(connection.secrets_encrypted))
    return {str(k): str(val) for k, val in found.items()}


def port(connection: ChatConnection, settings: Settings) -> ports.Connection:
    """What the vendor modules are given of a connection."""
    return ports.Connection(
        base_url=connection.base_url,
        team=connection.team or None,
        bot_user_id=connection.bot_user_id or None,
        secrets=secrets_of(connection, settings),
    )


def list_connections(session: Session) -> Sequence[ChatConnection]:
    return session.scalars(select(ChatConnection).order_by(ChatConnection.name)).all()


def get_connection(session: Session, connection_id: int) -> ChatConnection:
    connection = session.get(ChatConnection, connection_id)
    if connection is None:
        raise NotFound(f"no chat connection with id {connection_id}")
    return connection


def connection_named(session: Session, name: str) -> ChatConnection:
    """The connection of this name (case-insensitive); NotFound if none."""
    found = session.scalar(
        select(ChatConnection).where(func.lower(ChatConnection.name) == name.strip().lower())
    )
    if found is None:
        raise NotFound(f"no chat connection named {name!r}")
    return found


def _base_url(value: Any, vendor: VendorInfo, settings: Settings) -> str:
    given = value if isinstance(value, str) and value.strip() else vendor.default_url
    if not given:
        raise ValidationFailed(
            f"base_url is required: the address of your {vendor.label} server",
            field="base_url",
        )
    url = v.url(given, "base_url")
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username:
        raise ValidationFailed("base_url is an address without query or login", field="base_url")
    try:
        OutboundGuard.from_settings(settings).check_host(parts.hostname or "", parts.port)
    except OutboundRefused as exc:
        raise ValidationFailed(f"base_url: {exc.reason}", field="base_url") from exc
    return url


def _naming(value: Any) -> str:
    naming = v.text(value, "naming", max_len=NAMING_MAX, required=True)
    if not any(p in naming for p in ("{number}", "{reference}")):
        raise ValidationFailed(
            "naming must contain {number} or {reference}, so that each incident's channel "
            "has its own name",
            field="naming",
        )
    unknown = set(re.findall(r"\{[^}]*\}", naming)) - set(PLACEHOLDERS)
    if unknown:
        raise ValidationFailed(
            f"naming: unknown placeholder(s) {', '.join(sorted(unknown))}; known: "
            + ", ".join(PLACEHOLDERS),
            field="naming",
        )
    return naming


def _severities(session: Session, value: Any) -> list[int]:
    """Severity ids from ids or names ("SEV1")."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(
            "channel_severities is a list of severities", field="channel_severities"
        )
    known = {s.id: s for s in session.scalars(select(Severity))}
    by_name = {s.name.lower(): s.id for s in known.values()}
    ids: list[int] = []
    for item in value:
        found = item if isinstance(item, int) and not isinstance(item, bool) else None
        if isinstance(item, str):
            found = by_name.get(item.strip().lower())
        if found is None or found not in known:
            raise ValidationFailed(
                f"channel_severities: no severity {item!r}", field="channel_severities"
            )
        if found not in ids:
            ids.append(found)
    return sorted(ids, key=lambda i: known[i].rank)


FIELDS = {
    "name", "vendor", "base_url", "team", "bot_user_id", "secrets", "enabled",
    "channel_severities", "naming", "archive_after_minutes", "announce_channel",
}  # fmt: skip


def _apply(
    session: Session, connection: ChatConnection, data: dict[str, Any], settings: Settings,
    *, new: bool,
) -> None:  # fmt: skip
    unknown = set(data) - FIELDS
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if new:
        connection.vendor = v.one_of(data.get("vendor"), "vendor", list(VENDORS))
    elif "vendor" in data and data["vendor"] != connection.vendor:
        raise ValidationFailed("a connection's vendor cannot change", field="vendor")
    vendor = VENDORS[connection.vendor]
    if new or "name" in data:
        name = v.text(data.get("name"), "name", max_len=120, required=True)
        clash = session.scalar(select(ChatConnection).where(ChatConnection.name == name))
        if clash is not None and clash is not connection:
            raise Conflict(f"a chat connection named {name!r} exists", field="name")
        connection.name = name
    if new or "base_url" in data:
        connection.base_url = _base_url(
            data.get("base_url", None if new else connection.base_url), vendor, settings
        )
    for key, pattern, label in (
        ("team", vendor.team_re, vendor.team_label),
        ("bot_user_id", vendor.bot_re, vendor.bot_label),
    ):
        if new or key in data:
            value = v.text(data.get(key), key, max_len=255, required=True)
            if not pattern.match(value):
                raise ValidationFailed(f"{key}: {label}", field=key)
            setattr(connection, key, value)
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValidationFailed("enabled is true or false", field="enabled")
        connection.enabled = data["enabled"]
    if "channel_severities" in data:
        connection.channel_severity_ids = _severities(session, data["channel_severities"])
    if new or "naming" in data:
        connection.naming = _naming(data.get("naming", "inc-{number}-{title}"))
    if "archive_after_minutes" in data:
        connection.archive_after_minutes = v.integer(
            data["archive_after_minutes"],
            "archive_after_minutes",
            minimum=0,
            maximum=ARCHIVE_MAX_MINUTES,
        )
    if "announce_channel" in data:
        connection.announce_channel = v.text(
            data["announce_channel"], "announce_channel", max_len=255
        )
    _apply_secrets(connection, data.get("secrets"), vendor, settings, new=new)
    connection.updated_at = utcnow()


def _apply_secrets(
    connection: ChatConnection, given: Any, vendor: VendorInfo, settings: Settings, *, new: bool
) -> None:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValidationFailed("secrets is an object of credentials", field="secrets")
    allowed = (*vendor.secrets, *vendor.generated)
    unknown = set(given) - set(allowed)
    if unknown:
        raise ValidationFailed(
            f"secrets: unknown credential(s) {', '.join(sorted(unknown))} for {vendor.label}; "
            f"known: {', '.join(allowed)}",
            field="secrets",
        )
    stored = {} if new else secrets_of(connection, settings)
    for key in allowed:
        value = v.text(given.get(key), f"secrets.{key}", max_len=SECRET_MAX)
        if value:
            stored[key] = value
        elif key not in stored and key in vendor.generated:
            stored[key] = random.token_urlsafe(32)
        elif key not in stored:
            raise ValidationFailed(
                f"secrets.{key} is required for {vendor.label}", field=f"secrets.{key}"
            )
    connection.secrets_encrypted = vault(settings).encrypt(json.dumps(stored, sort_keys=True))


def create_connection(
    session: Session, data: dict[str, Any], *, settings: Settings
) -> ChatConnection:
    """Connect a chat workspace or server; its credentials are stored encrypted."""
    connection = ChatConnection(channel_severity_ids=[], announce_channel="", enabled=True)
    _apply(session, connection, data, settings, new=True)
    session.add(connection)
    session.flush()
    return connection


def update_connection(
    session: Session, connection: ChatConnection, data: dict[str, Any], *, settings: Settings
) -> ChatConnection:
    """Change a connection; credentials left out stay as they are. Turned on again, its
    channels catch up with what changed meanwhile."""
    was_enabled = connection.enabled
    _apply(session, connection, data, settings, new=False)
    session.flush()
    if connection.enabled and not was_enabled:
        channels.resume(session, connection)
    return connection


def delete_connection(session: Session, connection: ChatConnection) -> None:
    """Forget a connection, its linked people and its channels' upkeep (the channels stay in
    the chat service)."""
    session.delete(connection)
    session.flush()


def describe(connection: ChatConnection) -> dict[str, Any]:
    """A connection as the API and the configuration file show it: no secrets."""
    return {
        "id": connection.id,
        "name": connection.name,
        "vendor": connection.vendor,
        "base_url": connection.base_url,
        "team": connection.team,
        "bot_user_id": connection.bot_user_id,
        "enabled": connection.enabled,
        "channel_severity_ids": list(connection.channel_severity_ids),
        "naming": connection.naming,
        "archive_after_minutes": connection.archive_after_minutes,
        "announce_channel": connection.announce_channel,
    }


# Where each vendor calls Tocsin back, under `{public url}/chat/{id}/`: the receivers' routes.
INBOUND_ROUTES: dict[str, tuple[str, ...]] = {
    "slack": ("commands", "interactivity", "events"),
    "mattermost": ("commands", "actions", "dialogs"),
}


def inbound_urls(connection: ChatConnection, public_url: str) -> dict[str, str]:
    """The addresses to paste into the chat service's settings, by what each is for; for
    Matrix the one appservice URL the homeserver appends `/_matrix/app/v1/...` to."""
    base = f"{public_url.rstrip('/')}/chat/{connection.id}"
    if connection.vendor == "matrix":
        return {"appservice": base}
    return {route: f"{base}/{route}" for route in INBOUND_ROUTES.get(connection.vendor, ())}


def secrets_set(connection: ChatConnection, settings: Settings) -> list[str]:
    """The names of the credentials stored (never their values); none when they cannot be
    decrypted (the secret key changed), so that they are given again."""
    try:
        return sorted(secrets_of(connection, settings))
    except Undecryptable:
        return []


def matrix_registration(connection: ChatConnection, settings: Settings) -> str:
    """The appservice registration file (YAML) a Matrix connection's homeserver is given; it
    holds the connection's tokens. NotFound for a connection of another vendor."""
    if connection.vendor != "matrix":
        raise NotFound(f"{connection.name} is not a Matrix connection: it has no registration")
    stored = secrets_of(connection, settings)
    document = matrix.registration(
        id=f"tocsin-{connection.id}",
        url=inbound_urls(connection, settings.public_url())["appservice"],
        as_token=stored["as_token"],
        hs_token=stored["hs_token"],
        sender_localpart=connection.bot_user_id.removeprefix("@").split(":", 1)[0],
        server_name=connection.team,
    )
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
