"""Roles on an incident: assigning holders, removing them, handing over command.

A role that allows several holders (`IncidentRole.multiple`: subject matter experts, scribes)
gains one per assignment; a single role (the incident commander) has one holder, and assigning
it to someone else hands it over. Every change is on the timeline and emits `RoleAssigned`
(one per holder added or removed), which other domains react to (the holder's email). A new
holder becomes a member of the incident (`incidents.members`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.bus import emit
from tocsin.catalog.models import User, UserRole
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.incidents.events import RoleAssigned
from tocsin.incidents.members import join
from tocsin.incidents.models import Incident, RoleAssignment, TimelineEntry
from tocsin.incidents.timeline import actor_name, record

COMMANDER = "incident_commander"


@dataclass(frozen=True)
class RoleChange:
    """What an assignment did: its timeline entry (None when nothing changed) and warnings
    for the person assigning (a viewer given a role)."""

    entry: TimelineEntry | None
    warnings: tuple[str, ...] = ()


def _id(user: User | None) -> int | None:
    return user.id if user is not None else None


def _role(session: Session, role_id: int) -> IncidentRole:
    role = session.get(IncidentRole, role_id) if _is_id(role_id) else None
    if role is None:
        raise UnknownReference(f"role {role_id!r} does not exist", field="role_id")
    return role


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _person(session: Session, user_id: int, field: str = "user_id") -> User:
    """An active user to hold a role; unknown and deactivated people are refused."""
    user = session.get(User, user_id) if _is_id(user_id) else None
    if user is None:
        raise UnknownReference(f"user {user_id!r} does not exist", field=field)
    if not user.active:
        raise ValidationFailed(f"{user.name} is deactivated", field=field)
    if not user.is_person:
        raise ValidationFailed(f"{user.name} is a service account, not a person", field=field)
    return user


def warnings_for(user: User) -> tuple[str, ...]:
    """Why giving this person a role deserves a second look (allowed all the same)."""
    if user.role == UserRole.viewer:
        return (
            f"{user.name} is a viewer: they can follow the incident but not change it. "
            "Give them the responder role if they are to act on it.",
        )
    return ()


def _assignments(incident: Incident, role: IncidentRole) -> list[RoleAssignment]:
    mine = [a for a in incident.role_assignments if a.role_id == role.id]
    return sorted(mine, key=lambda a: (a.assigned_at, a.id or 0))


def assign_role(
    session: Session,
    incident: Incident,
    *,
    role_id: int,
    user_id: int | None,
    by: User | None,
) -> RoleChange:
    """Give a role to a user: one more holder of a role that allows several, a hand-over of
    a single one. `user_id` None removes every holder (the single-holder API's "clear").
    Nothing changes, and nothing is emitted, when they already hold it."""
    role = _role(session, role_id)
    if user_id is None:
        entries = [_remove(session, incident, a, by) for a in _assignments(incident, role)]
        return RoleChange(entries[-1] if entries else None)
    user = _person(session, user_id)
    current = _assignments(incident, role)
    if any(a.user_id == user.id for a in current) and (role.multiple or len(current) == 1):
        return RoleChange(None, warnings_for(user))
    if role.multiple or not current:
        return RoleChange(_add(session, incident, role, user, by), warnings_for(user))
    return RoleChange(_hand_over(session, incident, role, current, user, by), warnings_for(user))


def unassign_role(
    session: Session, incident: Incident, *, role_id: int, user_id: int, by: User | None
) -> RoleChange:
    """Remove one holder of a role; NotFound when they do not hold it."""
    role = _role(session, role_id)
    held = next((a for a in _assignments(incident, role) if a.user_id == user_id), None)
    if held is None:
        raise NotFound(f"user {user_id} does not hold {role.name} on {incident.reference}")
    return RoleChange(_remove(session, incident, held, by))


def hand_over_command(
    session: Session, incident: Incident, *, to_user_id: int, by: User | None
) -> RoleChange:
    """Hand command to another person: one action, on the timeline with who handed to whom.
    Conflict when nobody holds command (assign a commander) or they already do."""
    role = session.scalar(select(IncidentRole).where(IncidentRole.slug == COMMANDER))
    if role is None:
        raise Conflict("there is no Incident Commander role")
    user = _person(session, to_user_id, field="to_user_id")
    current = _assignments(incident, role)
    if not current:
        raise Conflict(
            f"nobody holds command of {incident.reference}: assign an Incident Commander",
            field="to_user_id",
        )
    if [a.user_id for a in current] == [user.id]:
        raise Conflict(f"{user.name} already holds command", field="to_user_id")
    return RoleChange(_hand_over(session, incident, role, current, user, by), warnings_for(user))


def _add(
    session: Session, incident: Incident, role: IncidentRole, user: User, by: User | None
) -> TimelineEntry:
    incident.role_assignments.append(RoleAssignment(role=role, user=user, assigned_at=utcnow()))
    join(session, incident, user, by=by)
    entry = record(
        session,
        incident,
        "role_assigned",
        f"{actor_name(by)} assigned {user.name} as {role.name}",
        by=by,
        field=f"role:{role.slug}",
        new=user.name,
        key_event=role.slug == COMMANDER,
    )
    session.flush()  # the entry's id, for the caller
    emit(session, RoleAssigned(incident.id, role.id, role.slug, user.id, None, _id(by)))
    return entry


def _hand_over(
    session: Session,
    incident: Incident,
    role: IncidentRole,
    current: list[RoleAssignment],
    user: User,
    by: User | None,
) -> TimelineEntry:
    """Replace the holder(s) of a single role by `user`, recording who handed to whom."""
    old = current[0].user
    # A role made single while several held it keeps one row: theirs if they hold it.
    kept = next((a for a in current if a.user_id == user.id), current[0])
    for extra in current:
        if extra is not kept:
            incident.role_assignments.remove(extra)
    session.flush()  # the others' rows go before the kept one changes hands
    kept.user = user
    kept.assigned_at = utcnow()
    join(session, incident, user, by=by)
    if role.slug == COMMANDER:
        summary = (
            f"{old.name} handed command to {user.name}"
            if by is not None and by.id == old.id
            else f"{actor_name(by)} handed command from {old.name} to {user.name}"
        )
    else:
        summary = f"{actor_name(by)} handed {role.name} from {old.name} to {user.name}"
    entry = record(
        session,
        incident,
        "role_assigned",
        summary,
        by=by,
        field=f"role:{role.slug}",
        old=old.name,
        new=user.name,
        key_event=role.slug == COMMANDER,
    )
    session.flush()
    emit(session, RoleAssigned(incident.id, role.id, role.slug, user.id, old.id, _id(by)))
    return entry


def _remove(
    session: Session, incident: Incident, assignment: RoleAssignment, by: User | None
) -> TimelineEntry:
    role, old = assignment.role, assignment.user
    incident.role_assignments.remove(assignment)
    entry = record(
        session,
        incident,
        "role_unassigned",
        f"{actor_name(by)} removed {old.name} as {role.name}",
        by=by,
        field=f"role:{role.slug}",
        old=old.name,
        new=None,
    )
    session.flush()
    emit(session, RoleAssigned(incident.id, role.id, role.slug, None, old.id, _id(by)))
    return entry


def assign_at_declaration(
    session: Session, incident: Incident, role: IncidentRole, user: User, by: User | None
) -> None:
    """The commander named when declaring: part of the declaration, so no `RoleAssigned`
    (`IncidentDeclared` carries it)."""
    if not user.active:
        raise ValidationFailed(f"{user.name} is deactivated", field="commander_id")
    if not user.is_person:
        raise ValidationFailed(
            f"{user.name} is a service account, not a person", field="commander_id"
        )
    incident.role_assignments.append(RoleAssignment(role=role, user=user, assigned_at=utcnow()))
    join(session, incident, user, by=by)
    record(
        session,
        incident,
        "role_assigned",
        f"{actor_name(by)} assigned {user.name} as {role.name}",
        by=by,
        field=f"role:{role.slug}",
        new=user.name,
        key_event=True,
    )
    session.flush()
