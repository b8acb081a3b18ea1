"""The `comms_channels` section: the communication channel registry, one entry per channel
(matched by name). References are names: severities, services, incident role slugs. And the
`service_followers` section: who follows a service (users by email, teams by name).

Apprise and webhook URLs usually hold tokens, so exports leave them out: an exported channel
of those kinds has no `target`, and applying it keeps the stored URL (a new channel needs
one). Email list addresses are exported. Change lines name the fields that changed, never
their values (a target may be secret). Channels missing from the file are left alone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.comms import followers
from tocsin.comms import service as registry
from tocsin.comms.models import ChannelKind, CommsChannel, ServiceFollower
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


# --- service_followers -------------------------------------------------------------------


class ServiceFollowersDoc(BaseModel):
    """Exactly who follows a service (like a team's members); services not listed keep theirs."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(max_length=120)
    users: list[str] = Field(default=[], description="emails")
    teams: list[str] = Field(default=[], description="team names")


def current_followers(session: Session) -> dict[str, Doc]:
    """Every service somebody follows, keyed by service name."""
    out: dict[str, Doc] = {}
    rows = session.execute(
        select(Service.name, ServiceFollower)
        .join(ServiceFollower, ServiceFollower.service_id == Service.id)
        .order_by(Service.name)
    ).all()
    for name, row in rows:
        doc = out.setdefault(name, {"service": name, "users": [], "teams": []})
        if row.user is not None:
            doc["users"].append(row.user.email)
        elif row.team is not None:
            doc["teams"].append(row.team.name)
    for doc in out.values():
        doc["users"].sort()
        doc["teams"].sort(key=str.lower)
    return out


def _named(session: Session, model: Any, column: Any, value: str, what: str, field: str) -> Any:
    found = session.scalar(select(model).where(func.lower(column) == value.strip().lower()))
    if found is None:
        raise ValidationFailed(f"no {what} {value!r}", field=field)
    return found


def reconcile_followers(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the followers of the service named `name` exactly the document's."""
    service = _named(session, Service, Service.name, name, "service named", "service")
    users = [_named(session, User, User.email, e, "user with email", "users") for e in doc["users"]]
    teams = [_named(session, Team, Team.name, t, "team named", "teams") for t in doc["teams"]]
    # A deactivated person who already follows may stay listed (an export lists them).
    added, removed = followers.set_followers(session, service, users=users, teams=teams)
    parts = [f"add {', '.join(added)}"] if added else []
    parts += [f"remove {', '.join(removed)}"] if removed else []
    return [f"service followers {service.name!r}: {'; '.join(parts)}"] if parts else []
