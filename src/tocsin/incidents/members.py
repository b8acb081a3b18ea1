"""An incident's members: the allow-list of a private incident.

Whoever declares an incident and whoever is given one of its roles becomes a member (`join`,
called by the declaration and the role assignments, on every incident so that making one
private later keeps the people working it). The commander and admins add and remove others
(`add_member`, `remove_member`): on the timeline, and so visible to the members themselves.
A role holder stays a member while they hold the role; take the role away first.

Being paged for a private incident or following its services does not make anyone a member:
they are told its codename only (`incidents.access`, docs/private-incidents.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import record as audit
from tocsin.audit.trail import record_refused
from tocsin.catalog.models import User, UserRole
from tocsin.db import utcnow
from tocsin.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    UnknownReference,
    ValidationFailed,
)
from tocsin.incidents.models import Incident, IncidentMember, RoleAssignment
from tocsin.incidents.timeline import actor_name, record

COMMANDER = "incident_commander"
# An admin's reads of a private incident they are not a member of: one record per admin and
# incident in this long, however many pages they open.
READ_RECORD_EVERY = timedelta(hours=1)


def members(session: Session, incident: Incident) -> list[IncidentMember]:
    """The incident's members, in the order they were added."""
    return list(
        session.scalars(
            select(IncidentMember)
            .where(IncidentMember.incident_id == incident.id)
            .order_by(IncidentMember.added_at, IncidentMember.id)
        )
    )


def is_member(session: Session, incident: Incident, user: User) -> bool:
    found = session.scalar(
        select(IncidentMember.id).where(
            IncidentMember.incident_id == incident.id, IncidentMember.user_id == user.id
        )
    )
    return found is not None


def join(session: Session, incident: Incident, user: User | None, *, by: User | None) -> None:
    """Make `user` a member if they are not one (the declarer, a new role holder): part of
    the action that gave them the reason, so nothing of its own on the timeline."""
    if user is None or user.id is None:
        return
    session.flush()  # the incident's id, and members added earlier in this transaction
    if not is_member(session, incident, user):
        session.add(
            IncidentMember(
                incident_id=incident.id,
                user_id=user.id,
                added_by_id=by.id if by is not None else None,
                added_at=utcnow(),
            )
        )
        session.flush()


def can_manage(incident: Incident, user: User | None) -> bool:
    """Who manages the members: the commander(s) and admins."""
    if user is None:
        return False
    if user.can(UserRole.admin):
        return True
    return any(a.user_id == user.id and a.role.slug == COMMANDER for a in incident.role_assignments)


def _check_manager(incident: Incident, by: User | None) -> None:
    if not can_manage(incident, by):
        raise Forbidden(
            f"only the commander of {incident.reference} or an admin manages its members"
        )


def _person(session: Session, user_id: object) -> User:
    user = (
        session.get(User, user_id)
        if isinstance(user_id, int) and not isinstance(user_id, bool)
        else None
    )
    if user is None:
        raise UnknownReference(f"user {user_id!r} does not exist", field="user_id")
    return user


@contextmanager
def _refusals_recorded(
    session: Session, incident: Incident, action: str, user_id: object
) -> Iterator[None]:
    """A refusal (not the commander, a deactivated person, a role holder, …) is recorded in
    the audit trail as `action` with outcome "refused", though the caller rolls back."""
    try:
        yield
    except DomainError as exc:
        record_refused(
            session,
            action,
            target_type="incident",
            target_id=incident.id,
            target=incident.reference,
            detail={"user_id": user_id, "reason": exc.message},
        )
        raise


def add_member(
    session: Session, incident: Incident, *, user_id: int, by: User | None
) -> IncidentMember | None:
    """Add a person to the allow-list (the commander or an admin). None, and nothing changes,
    when they are one already; a deactivated account is refused. Refusals are recorded."""
    with _refusals_recorded(session, incident, "incident.member_added", user_id):
        return _add(session, incident, user_id=user_id, by=by)


def _add(
    session: Session, incident: Incident, *, user_id: int, by: User | None
) -> IncidentMember | None:
    _check_manager(incident, by)
    user = _person(session, user_id)
    if not user.active:
        raise ValidationFailed(f"{user.name} is deactivated", field="user_id")
    if is_member(session, incident, user):
        return None
    member = IncidentMember(
        incident_id=incident.id,
        user_id=user.id,
        added_by_id=by.id if by is not None else None,
        added_at=utcnow(),
    )
    session.add(member)
    record(
        session,
        incident,
        "member_added",
        f"{actor_name(by)} added {user.name} to the members",
        by=by,
        field="members",
        new=user.name,
    )
    audit(
        session,
        "incident.member_added",
        target_type="incident",
        target_id=incident.id,
        target=incident.reference,
        detail={"user_id": user.id, "user": user.email, "private": incident.restricted},
    )
    session.flush()
    return member


def remove_member(session: Session, incident: Incident, *, user_id: int, by: User | None) -> None:
    """Take a person off the allow-list (the commander or an admin). NotFound when they are
    not a member; Conflict while they hold one of its roles. Refusals are recorded."""
    with _refusals_recorded(session, incident, "incident.member_removed", user_id):
        _remove(session, incident, user_id=user_id, by=by)


def _remove(session: Session, incident: Incident, *, user_id: int, by: User | None) -> None:
    _check_manager(incident, by)
    user = _person(session, user_id)
    member = session.scalar(
        select(IncidentMember).where(
            IncidentMember.incident_id == incident.id, IncidentMember.user_id == user.id
        )
    )
    if member is None:
        raise NotFound(f"{user.name} is not a member of {incident.reference}")
    held = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.incident_id == incident.id, RoleAssignment.user_id == user.id
        )
    )
    if held is not None:
        raise Conflict(
            f"{user.name} holds a role on {incident.reference}: remove the role first",
            field="user_id",
        )
    session.delete(member)
    record(
        session,
        incident,
        "member_removed",
        f"{actor_name(by)} removed {user.name} from the members",
        by=by,
        field="members",
        old=user.name,
    )
    audit(
        session,
        "incident.member_removed",
        target_type="incident",
        target_id=incident.id,
        target=incident.reference,
        detail={"user_id": user.id, "user": user.email, "private": incident.restricted},
    )
    session.flush()


def note_admin_read(session: Session, incident: Incident, user: User) -> bool:
    """An admin who is not a member reads a private incident: record it in the audit trail
    (`incident.private_viewed`), at most once per admin and incident an hour. Whether it was
    such a read (the page says so)."""
    if not incident.restricted or not user.can(UserRole.admin):
        return False
    if is_member(session, incident, user):
        return False
    recent = session.scalar(
        select(AuditRecord.id)
        .where(
            AuditRecord.action == "incident.private_viewed",
            AuditRecord.actor_id == user.id,
            AuditRecord.target_type == "incident",
            AuditRecord.target_id == str(incident.id),
            AuditRecord.at > utcnow() - READ_RECORD_EVERY,
        )
        .limit(1)
    )
    if recent is None:
        audit(
            session,
            "incident.private_viewed",
            target_type="incident",
            target_id=incident.id,
            target=incident.reference,
            detail={"member": False},
        )
        session.flush()
    return True
