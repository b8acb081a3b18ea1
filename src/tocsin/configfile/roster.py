"""The `roster` section: each incident role's primary and backup, one entry per role (matched
by its slug). A slot is `{user: email}`, `{schedule: name}` (whoever is on call for it at the
time) or null (nobody). A role missing from the file keeps its entry; nothing is deleted."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.configfile.alerting import NewKey
from tocsin.definitions.models import IncidentRole
from tocsin.errors import ValidationFailed
from tocsin.roster import service
from tocsin.roster.models import SLOTS, RosterEntry
from tocsin.schedules.models import Schedule

Doc = dict[str, Any]
Slot = dict[str, str] | None


class RosterDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=64, description="the role's slug, e.g. incident_commander")
    primary: Slot = Field(default=None, description="{user: email} or {schedule: name}")
    backup: Slot = Field(default=None, description="{user: email} or {schedule: name}")

    @field_validator("primary", "backup")
    @classmethod
    def _one_of(cls, value: Slot) -> Slot:
        if value is None:
            return None
        if len(value) != 1 or next(iter(value)) not in ("user", "schedule"):
            raise ValueError("a slot is {user: an email} or {schedule: a name}, or null")
        kind, name = next(iter(value.items()))
        name = name.strip()
        return {kind: name.lower() if kind == "user" else name}


def _slot_doc(entry: RosterEntry, slot: str) -> Slot:
    user = getattr(entry, f"{slot}_user")
    if user is not None:
        return {"user": user.email}
    schedule = getattr(entry, f"{slot}_schedule")
    if schedule is not None:
        return {"schedule": schedule.name}
    return None


def current(session: Session) -> dict[str, Doc]:
    """Every roster entry, keyed by its role's slug, in the roles' order."""
    return {
        e.role.slug: {"role": e.role.slug, **{slot: _slot_doc(e, slot) for slot in SLOTS}}
        for e in service.entries(session)
    }


def _slot_ids(session: Session, slot: str, doc: Slot) -> Doc:
    ids: Doc = {f"{slot}_user_id": None, f"{slot}_schedule_id": None}
    if doc is None:
        return ids
    kind, name = next(iter(doc.items()))
    if kind == "user":
        user = catalog.user_by_email(session, name)
        if user is None:
            raise ValidationFailed(f"no user with email {name!r}", field=slot)
        if not user.active:
            raise ValidationFailed(f"{user.name} is deactivated", field=slot)
        ids[f"{slot}_user_id"] = user.id
    else:
        found = session.scalar(select(Schedule).where(func.lower(Schedule.name) == name.lower()))
        if found is None:
            raise ValidationFailed(f"no schedule named {name!r}", field=slot)
        ids[f"{slot}_schedule_id"] = found.id
    return ids


def _text(doc: Slot) -> str:
    if doc is None:
        return "nobody"
    kind, name = next(iter(doc.items()))
    return f"{kind} {name}"


def reconcile(session: Session, key: str, desired: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the role's entry name the file's primary and backup."""
    role = session.scalar(select(IncidentRole).where(func.lower(IncidentRole.slug) == key.lower()))
    if role is None:
        raise ValidationFailed(f"no role with slug {key!r}", field="role")
    entry = service.entry_for(session, role.id)
    have: Doc = (
        {slot: _slot_doc(entry, slot) for slot in SLOTS}
        if entry is not None
        else {slot: None for slot in SLOTS}
    )
    changed = [
        f"{slot}: {_text(have[slot])} → {_text(desired[slot])}"
        for slot in SLOTS
        if _fold(have[slot]) != _fold(desired[slot])
    ]
    if entry is not None and not changed:
        return []  # nothing looked up: an entry naming a since deactivated person stays
    ids = {
        **_slot_ids(session, "primary", desired["primary"]),
        **_slot_ids(session, "backup", desired["backup"]),
    }
    service.set_entry(session, role.id, **ids)
    if entry is None:
        return [f"create roster entry {role.slug!r}"]
    return [f"update roster entry {role.slug!r}: {', '.join(changed)}"]


def _fold(doc: Slot) -> Slot:
    """Names compare without case, as they are looked up."""
    return None if doc is None else {k: v.lower() for k, v in doc.items()}
