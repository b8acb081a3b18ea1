"""The `chat` section: chat connections, one entry per connection (matched by name).
Severities that get a channel are named.

Credentials are never written in the file: each is a reference to an environment variable
(`secrets: {bot_token: {env: SLACK_BOT_TOKEN}}`), read when the file is applied. Exports leave
them out, and applying an entry without `secrets` keeps the stored ones (a new Slack or
Mattermost connection needs its own; Matrix's tokens are generated). Change lines name the
fields that changed, never their values. Connections missing from the file are left alone."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.chat import connections
from tocsin.chat.models import ChatConnection
from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.definitions.models import Severity
from tocsin.errors import NotFound, ValidationFailed

Doc = dict[str, Any]
# Compared as they are: the fields the file and the database hold alike.
PLAIN = ("vendor", "team", "bot_user_id", "enabled", "naming", "archive_after_minutes",
         "announce_channel")  # fmt: skip


class EnvRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: str = Field(min_length=1, max_length=255, description="the variable holding it")


class ChatDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    vendor: str = Field(description="slack, mattermost or matrix")
    base_url: str = Field(default="", description="empty: the vendor's default (Slack)")
    team: str
    bot_user_id: str
    enabled: bool = True
    channel_severities: list[str] = []
    naming: str = "inc-{number}-{title}"
    archive_after_minutes: int = 1440
    announce_channel: str = ""
    secrets: dict[str, EnvRef] | None = Field(
        default=None, description="credential name → {env: VARIABLE}; left out: keep"
    )


def _doc(session: Session, connection: ChatConnection) -> Doc:
    names = {i: n for i, n in session.execute(select(Severity.id, Severity.name))}
    return {
        "name": connection.name,
        "vendor": connection.vendor,
        "base_url": connection.base_url,
        "team": connection.team,
        "bot_user_id": connection.bot_user_id,
        "enabled": connection.enabled,
        "channel_severities": [names[i] for i in connection.channel_severity_ids if i in names],
        "naming": connection.naming,
        "archive_after_minutes": connection.archive_after_minutes,
        "announce_channel": connection.announce_channel,
    }


def current(session: Session) -> dict[str, Doc]:
    """Every connection, keyed by name (without its credentials)."""
    return {c.name: _doc(session, c) for c in connections.list_connections(session)}


def _secrets(doc: Doc) -> dict[str, str] | None:
    """The credentials the file names, read from the environment now."""
    refs = doc.get("secrets")
    if refs is None:
        return None
    out: dict[str, str] = {}
    for key, ref in refs.items():
        value = os.environ.get(ref["env"], "")
        if not value.strip():
            raise ValidationFailed(
                f"the environment variable {ref['env']} (for secrets.{key}) is not set",
                field=f"secrets.{key}",
            )
        out[key] = value
    return out


def _same_severities(want: list[str], have: list[str]) -> bool:
    return {n.strip().lower() for n in want} == {n.lower() for n in have}


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[Any]) -> list[str]:
    """Make the connection named `name` match the document."""
    # `tocsin apply` runs in the CLI, whose settings come from the environment (TOCSIN_*):
    # they decide which hosts the outbound guard allows, and the key credentials are
    # encrypted with.
    settings = Settings()
    given = _secrets(doc)
    try:
        found = connections.connection_named(session, name)
    except NotFound:
        data = {k: doc[k] for k in ("name", "base_url", *PLAIN, "channel_severities")}
        data["secrets"] = given or {}
        connections.create_connection(session, data, settings=settings)
        return [f"create chat connection {name!r}"]
    have = _doc(session, found)
    changes: Doc = {k: doc[k] for k in ("name", *PLAIN) if doc[k] != have[k]}
    default = connections.VENDORS.get(found.vendor)
    base_url = doc["base_url"] or (default.default_url if default else "")
    if base_url != have["base_url"]:
        changes["base_url"] = doc["base_url"]
    if not _same_severities(doc["channel_severities"], have["channel_severities"]):
        changes["channel_severities"] = doc["channel_severities"]
    if given:
        try:
            stored = connections.secrets_of(found, settings)
        except Undecryptable:
            stored = {}
        differ = {k: value for k, value in given.items() if stored.get(k) != value}
        if differ:
            changes["secrets"] = differ
    if not changes:
        return []
    connections.update_connection(session, found, changes, settings=settings)
    return [f"update chat connection {found.name!r}: {', '.join(sorted(changes))}"]
