"""The organisation's roster: each incident role's primary and backup, and who they are at
a given time.

A slot (primary or backup) is a person or a schedule; a schedule means whoever is on call for
it at the time (`schedules.oncall`), so "the IC rotation's current primary" is a roster entry
whose primary is the IC rotation's schedule. Edited by admins; read by everyone, and shown on
the incident page next to the roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole
from tocsin.errors import NotFound, UnknownReference, ValidationFailed
from tocsin.incidents import roles
from tocsin.incidents.models import Incident
from tocsin.roster.models import SLOTS, RosterEntry
from tocsin.schedules import oncall
from tocsin.schedules.models import Schedule


@dataclass(frozen=True)
class Answerer:
    """Who a slot of the roster names at an instant."""

    slot: str  # "primary" or "backup"
    people: tuple[User, ...]  # active people: the person, or whoever is on call
    schedule: Schedule | None  # set when the slot is a schedule
    configured: bool  # False: the slot is empty

    @property
    def text(self) -> str:
        """'Ada Admin (on call for IC rotation)', 'Ben Backup', 'nobody on call for …'."""
        if not self.configured:
            return "nobody set"
        names = ", ".join(p.name for p in self.people)
        if self.schedule is None:
            return names or "nobody (deactivated)"
        where = f"on call for {self.schedule.name}"
        return f"{names} ({where})" if names else f"nobody {where}"


def entries(session: Session) -> list[RosterEntry]:
    """Every roster entry, in the roles' order."""
    return list(
        session.scalars(
            select(RosterEntry)
            .join(RosterEntry.role)
            .order_by(IncidentRole.position, IncidentRole.id)
        )
    )


def entry_for(session: Session, role_id: int) -> RosterEntry | None:
    return session.scalar(select(RosterEntry).where(RosterEntry.role_id == role_id))


def _slot(
    session: Session, slot: str, user_id: int | None, schedule_id: int | None
) -> tuple[User | None, Schedule | None]:
    if user_id is not None and schedule_id is not None:
        raise ValidationFailed(
            f"the {slot} is a person or a schedule, not both", field=f"{slot}_user_id"
        )
    user = session.get(User, user_id) if user_id is not None else None
    if user_id is not None and user is None:
        raise UnknownReference(f"user {user_id!r} does not exist", field=f"{slot}_user_id")
    if user is not None and not user.active:
        raise ValidationFailed(f"{user.name} is deactivated", field=f"{slot}_user_id")
    if user is not None and not user.is_person:
        raise ValidationFailed(
            f"{user.name} is a service account, not a person", field=f"{slot}_user_id"
        )
    schedule = session.get(Schedule, schedule_id) if schedule_id is not None else None
    if schedule_id is not None and schedule is None:
        raise UnknownReference(
            f"schedule {schedule_id!r} does not exist", field=f"{slot}_schedule_id"
        )
    return user, schedule


def set_entry(
    session: Session,
    role_id: int,
    *,
    primary_user_id: int | None = None,
    primary_schedule_id: int | None = None,
    backup_user_id: int | None = None,
    backup_schedule_id: int | None = None,
) -> RosterEntry:
    """Set a role's primary and backup (each a person, a schedule, or nobody)."""
    role = session.get(IncidentRole, role_id)
    if role is None:
        raise NotFound(f"role {role_id!r} does not exist", field="role_id")
    primary = _slot(session, "primary", primary_user_id, primary_schedule_id)
    backup = _slot(session, "backup", backup_user_id, backup_schedule_id)
    entry = entry_for(session, role.id)
    if entry is None:
        entry = RosterEntry(role=role)
        session.add(entry)
    entry.primary_user, entry.primary_schedule = primary
    entry.backup_user, entry.backup_schedule = backup
    entry.updated_at = utcnow()
    session.flush()
    return entry


def clear_entry(session: Session, role_id: int) -> None:
    """Remove a role from the roster; NotFound when it has no entry."""
    entry = entry_for(session, role_id)
    if entry is None:
        raise NotFound(f"role {role_id} has no roster entry")
    session.delete(entry)
    session.flush()


def _answerer(
    session: Session, slot: str, user: User | None, schedule: Schedule | None, at: datetime
) -> Answerer:
    if schedule is not None:
        ids = list(
            dict.fromkeys(shift.user_id for shift in oncall.on_call(session, schedule.id, at))
        )
        found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
        people = tuple(found[i] for i in ids if i in found and found[i].active)
        return Answerer(slot, people, schedule, True)
    if user is not None:
        return Answerer(slot, (user,) if user.active else (), None, True)
    return Answerer(slot, (), None, False)


def resolve(session: Session, entry: RosterEntry, at: datetime | None = None) -> list[Answerer]:
    """The primary and the backup at `at` (now by default)."""
    at = at or utcnow()
    return [
        _answerer(
            session,
            slot,
            getattr(entry, f"{slot}_user"),
            getattr(entry, f"{slot}_schedule"),
            at,
        )
        for slot in SLOTS
    ]


def summary(answerers: list[Answerer]) -> str:
    """'primary Ada (on call for IC rotation), backup Ben'."""
    return ", ".join(f"{a.slot} {a.text}" for a in answerers)


def assign_from_roster(
    session: Session, incident: Incident, *, role_id: int, by: User, at: datetime | None = None
) -> roles.RoleChange:
    """Give the role to its roster's primary now (the backup when the primary names
    nobody); a single role already held is handed over."""
    entry = entry_for(session, role_id)
    if entry is None:
        raise ValidationFailed("this role has no roster entry", field="role_id")
    answerers = resolve(session, entry, at)
    person = next((a.people[0] for a in answerers if a.people), None)
    if person is None:
        raise ValidationFailed(
            f"the roster names nobody for {entry.role.name} now ({summary(answerers)})",
            field="role_id",
        )
    return roles.assign_role(session, incident, role_id=role_id, user_id=person.id, by=by)
