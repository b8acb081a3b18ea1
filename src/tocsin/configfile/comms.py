"""The `comms_channels` section: the communication channel registry, one entry per channel
(matched by name). References are names: severities, services, incident role slugs.

Apprise and webhook URLs usually hold tokens, so exports leave them out: an exported channel
of those kinds has no `target`, and applying it keeps the stored URL (a new channel needs
one). Email list addresses are exported. Change lines name the fields that changed, never
their values (a target may be secret). Channels missing from the file are left alone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tocsin.comms import service as registry
from tocsin.comms.models import ChannelKind, CommsChannel
from tocsin.config import Settings
from tocsin.configfile.alerting import NewKey
from tocsin.errors import ValidationFailed

Doc = dict[str, Any]
SECRET_KINDS = (ChannelKind.apprise.value, ChannelKind.webhook.value)


class CommsChannelDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    kind: str
    audience: str = "internal"
    target: str | None = Field(default=None, description="left out: keep the stored one")
    description: str = ""
    instructions: str = ""
    automatic: bool = True
    paused: bool = False
    severities: list[str] = []
    services: list[str] = []
    customer_impact: str = "any"
    include_restricted: bool = False
    post_user_roles: list[str] = []
    post_incident_roles: list[str] = []
    cadence_minutes: int | None = None
    position: int = 0


def _doc(channel: CommsChannel) -> Doc:
    doc: Doc = {
        "name": channel.name,
        "kind": channel.kind,
        "audience": channel.audience,
        "description": channel.description,
        "instructions": channel.instructions,
        "automatic": channel.automatic,
        "paused": channel.paused,
        "severities": [s.name for s in channel.severities],
        "services": [s.name for s in channel.services],
        "customer_impact": channel.customer_impact,
        "include_restricted": channel.include_restricted,
        "post_user_roles": list(channel.post_user_roles or []),
        "post_incident_roles": [r.slug for r in channel.post_incident_roles],
        "cadence_minutes": channel.cadence_minutes,
        "position": channel.position,
    }
    if channel.kind not in SECRET_KINDS and channel.target:
        doc["target"] = channel.target
    return doc


def current(session: Session) -> dict[str, Doc]:
    """Every channel, keyed by name."""
    return {c.name: _doc(c) for c in registry.list_channels(session)}


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the channel named `name` match the document."""
    # `tocsin apply` runs in the CLI, whose settings come from the environment (TOCSIN_*):
    # they decide which hosts the outbound guard allows.
    settings = Settings()
    wanted = {k: v for k, v in doc.items() if not (k == "target" and v is None)}
    if wanted["kind"] == ChannelKind.manual:
        wanted["automatic"] = False  # nobody but a person posts to a manual channel
    found = registry.channel_by_name(session, name)
    if found is None:
        if doc["kind"] != ChannelKind.manual and not doc.get("target"):
            raise ValidationFailed("target is required for a new channel", field="target")
        registry.create_channel(session, wanted, settings=settings)
        return [f"create comms channel {name!r}"]
    have = _doc(found)
    changes = {k: v for k, v in wanted.items() if k != "target" and v != have.get(k)}
    target = wanted.get("target")
    if target is not None and target not in (found.target, registry.display_target(found)):
        changes["target"] = target
    if "kind" in changes and "target" not in changes and found.target:
        changes["target"] = found.target  # the same address under another kind
    if not changes:
        return []
    registry.update_channel(session, found, changes, settings=settings)
    return [f"update comms channel {found.name!r}: {', '.join(sorted(changes))}"]
