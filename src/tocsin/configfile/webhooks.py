"""The `webhooks` section: event webhook subscriptions, one entry per subscription (matched
by name). Conditions are names: severities, services, teams, incident types.

URLs usually hold tokens, so exports leave them out: applying an entry without `url` keeps
the stored one (a new subscription needs one). A subscription created by `apply` gets a
signing secret nobody has seen: rotate it in Settings → Webhooks or through the API to
read it. Change lines name the fields that changed, never their values. Subscriptions
missing from the file are left alone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.config import Settings
from tocsin.configfile.alerting import NewKey
from tocsin.definitions.models import IncidentType, Severity
from tocsin.errors import ValidationFailed
from tocsin.webhooks import service as webhooks
from tocsin.webhooks.models import WebhookSubscription

Doc = dict[str, Any]
# Document field → (the subscription's id field, the model, what people call one).
_NAMED: dict[str, tuple[str, Any, str]] = {
    "severities": ("severity_ids", Severity, "severity"),
    "services": ("service_ids", Service, "service"),
    "teams": ("team_ids", Team, "team"),
    "incident_types": ("type_ids", IncidentType, "incident type"),
}


class WebhookDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    url: str | None = Field(default=None, description="left out: keep the stored one")
    events: list[str]
    severities: list[str] = []
    services: list[str] = []
    teams: list[str] = []
    incident_types: list[str] = []
    include_drills: bool = False
    include_restricted: bool = False
    enabled: bool = True


def _doc(session: Session, subscription: WebhookSubscription) -> Doc:
    doc: Doc = {"name": subscription.name, "events": list(subscription.events)}
    for field, (ids_field, model, _what) in _NAMED.items():
        rows = (session.get(model, i) for i in getattr(subscription, ids_field))
        doc[field] = sorted(row.name for row in rows if row is not None)
    doc["include_drills"] = subscription.include_drills
    doc["include_restricted"] = subscription.include_restricted
    doc["enabled"] = subscription.enabled
    return doc


def current(session: Session) -> dict[str, Doc]:
    """Every subscription, keyed by name (without its URL)."""
    return {s.name: _doc(session, s) for s in webhooks.list_subscriptions(session)}


def _ids(session: Session, field: str, names: list[str]) -> list[int]:
    _ids_field, model, what = _NAMED[field]
    out = []
    for name in names:
        row = session.scalar(select(model).where(func.lower(model.name) == name.strip().lower()))
        if row is None:
            raise ValidationFailed(f"{field}: no {what} named {name!r}", field=field)
        out.append(row.id)
    return out


def _data(session: Session, doc: Doc) -> Doc:
    data: Doc = {k: doc[k] for k in ("name", "events", "include_drills", "include_restricted")}
    data["enabled"] = doc["enabled"]
    for field, (ids_field, _model, _what) in _NAMED.items():
        data[ids_field] = _ids(session, field, doc.get(field) or [])
    if doc.get("url") is not None:
        data["url"] = doc["url"]
    return data


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the subscription named `name` match the document."""
    # `tocsin apply` runs in the CLI, whose settings come from the environment (TOCSIN_*):
    # they decide which hosts the outbound guard allows, and the key secrets derive from.
    settings = Settings()
    data = _data(session, doc)
    found = session.scalar(
        select(WebhookSubscription).where(func.lower(WebhookSubscription.name) == name.lower())
    )
    if found is None:
        if not doc.get("url"):
            raise ValidationFailed("url is required for a new webhook", field="url")
        webhooks.create_subscription(session, data, settings=settings)
        return [f"create webhook {name!r}"]
    have = _doc(session, found)
    changes = {k: data[k] for k in ("name", "include_drills", "include_restricted", "enabled")
               if doc[k] != have[k]}  # fmt: skip
    if doc["events"] != have["events"]:
        changes["events"] = data["events"]
    for field, (ids_field, _model, _what) in _NAMED.items():
        if sorted(doc.get(field) or []) != have[field]:
            changes[ids_field] = data[ids_field]
    url = data.get("url")
    if url is not None and url not in (found.url, webhooks.display_url(found.url)):
        changes["url"] = url
    if not changes:
        return []
    webhooks.update_subscription(session, found, changes, settings=settings)
    return [f"update webhook {found.name!r}: {', '.join(sorted(changes))}"]
