"""Incident stakeholders: people who follow an incident, and people or teams a responder adds.

Anyone who can see an incident may follow it, except that viewers never follow a private
one. Following a private incident does not let anyone see it: only its members and admins do
(`incidents.access`); its commander adds members.
Responders add and remove others; everyone may stop following. Changes made for someone else
go on the timeline. People and teams who follow one of the incident's services are added
automatically (`followers`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Team, User, UserRole
from tocsin.comms.models import Stakeholder
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tocsin.incidents.access import can_see
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import actor_name, record


def may_see(incident: Incident, user: User) -> bool:
    """Whether an update about this incident may reach `user`, one of its stakeholders (or
    the lead told it is late): never a deactivated account, nor a viewer when it is
    restricted."""
    if not user.active:
        return False
    return not incident.restricted or user.can(UserRole.responder)


def stakeholders_of(session: Session, incident: Incident) -> list[Stakeholder]:
    """The incident's stakeholders: people first, then teams, each by name."""
    rows = list(
        session.scalars(
            select(Stakeholder)
            .where(Stakeholder.incident_id == incident.id)
            .options(selectinload(Stakeholder.added_by))
        )
    )
    return sorted(rows, key=lambda s: (s.user_id is None, s.name.lower()))


def following(session: Session, incident: Incident, user: User) -> Stakeholder | None:
    return session.scalar(
        select(Stakeholder).where(
            Stakeholder.incident_id == incident.id, Stakeholder.user_id == user.id
        )
    )


def _insert(session: Session, row: Stakeholder) -> bool:
    """Insert unless the pair exists (a concurrent follow loses at the savepoint)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def follow(session: Session, incident: Incident, *, by: User) -> Stakeholder:
    """`by` follows the incident (again: nothing changes). NotFound for a restricted one they
    may not see, as everywhere else."""
    if not can_see(session, by, incident):
        raise NotFound(f"no incident {incident.reference}")
    if not may_see(incident, by):
        raise Forbidden(f"{incident.reference} is restricted: viewers cannot follow it")
    existing = following(session, incident, by)
    if existing is not None:
        return existing
    row = Stakeholder(incident_id=incident.id, user_id=by.id, added_by_id=by.id,
                      created_at=utcnow())  # fmt: skip
    if not _insert(session, row):
        found = following(session, incident, by)
        assert found is not None
        return found
    return row


def unfollow(session: Session, incident: Incident, *, by: User) -> bool:
    """`by` stops following. Returns whether they were following."""
    existing = following(session, incident, by)
    if existing is None:
        return False
    session.delete(existing)
    session.flush()
    return True


def person_or_team(
    session: Session, user_id: int | None, team_id: int | None
) -> tuple[User | None, Team | None]:
    """The active person or the team a request names (exactly one of the two)."""
    if (user_id is None) == (team_id is None):
        raise ValidationFailed("give either user_id or team_id", field="user_id")
    if user_id is not None:
        person = session.get(User, user_id)
        if person is None:
            raise NotFound(f"user_id: no user with id {user_id}", field="user_id")
        if not person.active:
            raise ValidationFailed(f"{person.name}'s account is deactivated", field="user_id")
        return person, None
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team_id: no team with id {team_id}", field="team_id")
    return None, team


def add(
    session: Session,
    incident: Incident,
    *,
    by: User,
    user_id: int | None = None,
    team_id: int | None = None,
) -> Stakeholder:
    """Add a person or a team as stakeholders (responders). Conflict if already there. On a
    private incident this does not let them see it: add them as members for that (a viewer is
    refused)."""
    if not by.can(UserRole.responder):
        raise Forbidden("only responders and admins add stakeholders")
    person, team = person_or_team(session, user_id, team_id)
    row = Stakeholder(incident_id=incident.id, added_by_id=by.id, created_at=utcnow())
    if person is not None:
        if not may_see(incident, person):
            raise ValidationFailed(
                f"{person.name} is a viewer and cannot see restricted incidents",
                field="user_id",
            )
        row.user_id, what = person.id, person.name
    else:
        assert team is not None
        row.team_id, what = team.id, f"the {team.name} team"
    if not _insert(session, row):
        raise Conflict(f"{what} already follows {incident.reference}")
    if row.user_id != by.id:
        record(session, incident, "stakeholder_added",
               f"{actor_name(by)} added {what} as stakeholders", by=by)  # fmt: skip
    return row


def get(session: Session, incident: Incident, stakeholder_id: int) -> Stakeholder:
    row = session.get(Stakeholder, stakeholder_id)
    if row is None or row.incident_id != incident.id:
        raise NotFound(f"no stakeholder {stakeholder_id} on {incident.reference}")
    return row


def remove(session: Session, incident: Incident, stakeholder_id: int, *, by: User) -> None:
    """Remove a stakeholder: yourself, or anyone when you are a responder."""
    row = get(session, incident, stakeholder_id)
    if row.user_id != by.id and not by.can(UserRole.responder):
        raise Forbidden("only responders and admins remove other stakeholders")
    what = row.user.name if row.user is not None else f"the {row.name} team"
    session.delete(row)
    session.flush()
    if row.user_id != by.id:
        record(session, incident, "stakeholder_removed",
               f"{actor_name(by)} removed {what} from the stakeholders", by=by)  # fmt: skip


@dataclass(frozen=True)
class Recipient:
    user: User
    reason: str  # why they get the update, in their words: "you follow INC-4"


def recipients(session: Session, incident: Incident) -> tuple[list[Recipient], list[Recipient]]:
    """Who internal updates reach: (allowed, refused), each person once.

    Teams are expanded to their members at the time of sending. People who may not see the
    incident (deactivated; viewers when it is restricted) are in `refused` with the reason."""
    allowed: dict[int, Recipient] = {}
    refused: dict[int, Recipient] = {}
    for row in stakeholders_of(session, incident):
        # Added because they follow a service: say so, it is where they stop following.
        what = (
            f"{row.via_service_name}, a service {incident.reference} affects"
            if row.via_service_name
            else incident.reference
        )
        if row.user is not None:
            people = [(row.user, f"you follow {what}")]
        elif row.team is not None:
            people = [(m, f"your team {row.team.name} follows {what}") for m in row.team.members]
        else:
            continue
        for person, reason in people:
            if person.id in allowed:
                continue
            if may_see(incident, person):
                allowed[person.id] = Recipient(person, reason)
                refused.pop(person.id, None)
            elif person.active:
                refused.setdefault(
                    person.id, Recipient(person, "a viewer; the incident is restricted")
                )
    return list(allowed.values()), list(refused.values())
