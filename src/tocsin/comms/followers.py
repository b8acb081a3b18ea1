"""Following a service: people and teams who follow a service become stakeholders of every
incident on it, without anyone having to remember to add them.

Anyone signed in may follow (and stop following) a service themselves; every signed-in user
can see every service. Responders and admins add and remove other people and teams.

Two reactions to incidents' events (subscribed in `tocsin.wiring`): `on_incident_declared`
(declared by a person, the API or an alert) and `on_incident_edited`: the followers of the
incident's new services are added as stakeholders, each with the service that brought them
in, and one timeline entry says who was added. Stakeholders may see an incident even when it
is restricted (`incidents.access`), so following a service does not make anyone a stakeholder
of a restricted incident: it gets only the followers who may see it already (admins, people
involved), and the timeline names those kept out, people and teams; they are added if the
restriction is lifted. Drills add nobody: a practice incident does not reach people who only
follow the service (they are added if it turns out to be real)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Service, Team, User, UserRole
from tocsin.comms.models import ServiceFollower, Stakeholder
from tocsin.comms.stakeholders import may_see, person_or_team
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tocsin.incidents.access import can_see, sees_when_restricted
from tocsin.incidents.events import IncidentDeclared, IncidentEdited
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record

# How many names the timeline entry spells out; the rest are counted.
NAMES_SHOWN = 10
# Stakeholder rows per INSERT statement.
INSERT_BATCH = 500


# --- who follows a service -------------------------------------------------------------------


def followers_of(session: Session, service: Service) -> list[ServiceFollower]:
    """The service's followers: people first, then teams, each by name."""
    rows = list(
        session.scalars(
            select(ServiceFollower)
            .where(ServiceFollower.service_id == service.id)
            .options(selectinload(ServiceFollower.created_by))
        )
    )
    return sorted(rows, key=lambda f: (f.user_id is None, f.name.lower(), f.id))


def followed_by(session: Session, user: User) -> list[tuple[Service, list[str]]]:
    """The services whose incidents `user` hears about as a follower, by name, each with how:
    "directly" for their own follow, then "through team X" for each team of theirs."""
    team_ids = [team.id for team in user.teams]
    clause = ServiceFollower.user_id == user.id
    if team_ids:
        clause = clause | ServiceFollower.team_id.in_(team_ids)
    rows = session.scalars(
        select(ServiceFollower).where(clause).options(selectinload(ServiceFollower.service))
    )
    reasons: dict[int, tuple[Service, list[str]]] = {}
    for row in rows:
        service, how = reasons.setdefault(row.service_id, (row.service, []))
        how.append("directly" if row.user_id is not None else f"through team {row.name}")
    for _, how in reasons.values():
        how.sort(key=lambda reason: (reason != "directly", reason.lower()))
    return sorted(reasons.values(), key=lambda item: item[0].name.lower())


def following(session: Session, service: Service, user: User) -> ServiceFollower | None:
    """`user`'s own follow of the service (not through a team), if any."""
    return session.scalar(
        select(ServiceFollower).where(
            ServiceFollower.service_id == service.id, ServiceFollower.user_id == user.id
        )
    )


def get_follower(session: Session, service: Service, follower_id: int) -> ServiceFollower:
    row = session.get(ServiceFollower, follower_id)
    if row is None or row.service_id != service.id:
        raise NotFound(f"no follower {follower_id} of {service.name}")
    return row


def card_context(session: Session, service: Service, viewer: User | None) -> dict[str, Any]:
    """What the service page's Followers card needs."""
    rows = followers_of(session, service)
    user_ids = {f.user_id for f in rows if f.user_id is not None}
    team_ids = {f.team_id for f in rows if f.team_id is not None}
    mine = next((f for f in rows if viewer is not None and f.user_id == viewer.id), None)
    my_teams = {t.id for t in viewer.teams} if viewer is not None else set()
    return {
        "rows": rows,
        "mine": mine,
        # The viewer's own teams that follow: they hear through them even without following.
        "via_teams": [f.team for f in rows if f.team is not None and f.team_id in my_teams],
        "can_manage": viewer is not None and viewer.can(UserRole.responder),
        "people": session.scalars(
            select(User)
            .where(User.active.is_(True), User.is_person, User.id.not_in(user_ids))
            .order_by(User.name)
        ).all(),
        "teams": session.scalars(
            select(Team).where(Team.id.not_in(team_ids)).order_by(Team.name)
        ).all(),
    }


def _insert(session: Session, row: ServiceFollower) -> bool:
    """Insert unless the pair exists (a concurrent follow loses at the savepoint)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def follow_service(session: Session, service: Service, *, by: User) -> ServiceFollower:
    """`by` follows the service (again: nothing changes)."""
    if not by.active:
        raise Forbidden("a deactivated account cannot follow services")
    existing = following(session, service, by)
    if existing is not None:
        return existing
    row = ServiceFollower(service_id=service.id, user_id=by.id, created_by_id=by.id,
                          created_at=utcnow())  # fmt: skip
    if not _insert(session, row):
        found = following(session, service, by)
        assert found is not None
        return found
    return row


def unfollow_service(session: Session, service: Service, *, by: User) -> bool:
    """`by` stops following the service. Returns whether they were following.

    Incidents they already follow because of it keep them (they unfollow those there)."""
    existing = following(session, service, by)
    if existing is None:
        return False
    session.delete(existing)
    session.flush()
    return True


def add_follower(
    session: Session,
    service: Service,
    *,
    by: User,
    user_id: int | None = None,
    team_id: int | None = None,
) -> ServiceFollower:
    """A responder makes a person or a team follow the service. Conflict if they already do."""
    if not by.can(UserRole.responder):
        raise Forbidden("only responders and admins add followers; you can follow it yourself")
    person, team = person_or_team(session, user_id, team_id)
    row = ServiceFollower(service_id=service.id, created_by_id=by.id, created_at=utcnow())
    if person is not None:
        row.user_id, what = person.id, person.name
    else:
        assert team is not None
        row.team_id, what = team.id, f"the {team.name} team"
    if not _insert(session, row):
        raise Conflict(f"{what} already follows {service.name}")
    return row


def remove_follower(session: Session, service: Service, follower_id: int, *, by: User) -> None:
    """Remove a follower: yourself, or anyone when you are a responder."""
    row = get_follower(session, service, follower_id)
    if row.user_id != by.id and not by.can(UserRole.responder):
        raise Forbidden("only responders and admins remove other followers")
    session.delete(row)
    session.flush()


def set_followers(
    session: Session,
    service: Service,
    *,
    users: Sequence[User],
    teams: Sequence[Team],
    by: User | None = None,
) -> tuple[list[str], list[str]]:
    """Make the service's followers exactly these people and teams (configuration files).

    Returns the names added and removed ("ana@example.com", "team Support"). Adding a
    deactivated person is refused; one who already follows may stay."""
    users, teams = list(dict.fromkeys(users)), list(dict.fromkeys(teams))
    have = followers_of(session, service)
    have_users = {r.user_id for r in have if r.user_id is not None}
    for person in users:
        if not person.active and person.id not in have_users:
            raise ValidationFailed(f"{person.email}'s account is deactivated", field="users")
    wanted_users = {u.id: u for u in users}
    wanted_teams = {t.id: t for t in teams}
    added: list[str] = []
    removed: list[str] = []
    for row in have:
        if row.user is not None and row.user_id not in wanted_users:
            removed.append(row.user.email)
            session.delete(row)
        elif row.team is not None and row.team_id not in wanted_teams:
            removed.append(f"team {row.team.name}")
            session.delete(row)
    have_teams = {r.team_id for r in have if r.team_id is not None}
    creator = by.id if by else None
    now = utcnow()
    for person in users:
        if person.id not in have_users:
            session.add(
                ServiceFollower(
                    service_id=service.id, user_id=person.id, created_by_id=creator, created_at=now
                )
            )
            added.append(person.email)
    for team in teams:
        if team.id not in have_teams:
            session.add(
                ServiceFollower(
                    service_id=service.id, team_id=team.id, created_by_id=creator, created_at=now
                )
            )
            added.append(f"team {team.name}")
    session.flush()
    return added, removed


# --- followers become stakeholders -----------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    follower: ServiceFollower
    service: Service
    fresh: bool  # the service is new to the incident (else: only people it used to keep out)

    @property
    def label(self) -> str:
        f = self.follower
        return f.user.name if f.user is not None else f"the {f.name} team"


def _candidates(
    session: Session, fresh: Iterable[Service], lifted: Iterable[Service]
) -> list[_Candidate]:
    """Each follower once, with the first service (by name) that brings them in: the fresh
    services first, then those whose restriction was lifted."""
    ordered = [(s, True) for s in sorted(fresh, key=lambda s: s.name.lower())]
    ordered += [(s, False) for s in sorted(lifted, key=lambda s: s.name.lower())]
    rank: dict[int, int] = {}
    for i, (s, _) in enumerate(ordered):
        rank.setdefault(s.id, i)
    if not rank:
        return []
    rows = session.scalars(
        select(ServiceFollower).where(ServiceFollower.service_id.in_(list(rank)))
    ).all()
    seen: set[tuple[int | None, int | None]] = set()
    out = []
    for row in sorted(rows, key=lambda r: (rank[r.service_id], r.user_id is None, r.name.lower())):
        who = (row.user_id, row.team_id)
        if who not in seen:
            seen.add(who)
            service, is_fresh = ordered[rank[row.service_id]]
            out.append(_Candidate(row, service, is_fresh))
    return out


def _eligible(session: Session, incident: Incident, c: _Candidate) -> bool | None:
    """True: add; False: may not see the incident (said on the timeline); None: leave out."""
    person = c.follower.user
    if person is not None and not person.active:
        return None
    if not c.fresh:
        # The restriction was lifted: add those it kept out. Whoever could see it all along
        # was added then (or has left since, on purpose).
        if person is None:
            return True
        return None if sees_when_restricted(session, person, incident) else True
    if not incident.restricted:
        return True
    # Being a stakeholder would let them see it: only those who may see it already.
    if person is None:
        return False  # a team: not every member may see it
    return may_see(incident, person) and can_see(session, person, incident)


def _insert_missing(session: Session, rows: list[dict[str, Any]]) -> set[tuple[Any, Any]]:
    """Insert the stakeholder rows not there yet, in one statement; a person or team already
    following the incident (or added meanwhile by someone else) is left as it is. Returns the
    (user_id, team_id) pairs inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    inserted: set[tuple[Any, Any]] = set()
    for start in range(0, len(rows), INSERT_BATCH):  # within SQLite's bound-parameter limit
        result = session.execute(
            insert(Stakeholder)
            .values(rows[start : start + INSERT_BATCH])
            .on_conflict_do_nothing()
            .returning(Stakeholder.user_id, Stakeholder.team_id)
        )
        inserted |= {(r.user_id, r.team_id) for r in result}
    return inserted


def _names(labels: list[str]) -> str:
    shown = labels[:NAMES_SHOWN]
    more = len(labels) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _grouped(items: list[_Candidate]) -> str:
    """ "Ana and the Support team (Checkout); Bob (Search)", without the service if one."""
    services: dict[str, list[str]] = {}
    for c in items:
        services.setdefault(c.service.name, []).append(c.label)
    if len(services) == 1:
        return _names(next(iter(services.values())))
    return "; ".join(f"{_names(names)} ({name})" for name, names in services.items())


def _summary(added: list[_Candidate], refused: list[_Candidate]) -> str:
    services = {c.service.name for c in added + refused}
    which = next(iter(services)) if len(services) == 1 else "its services"
    parts = []
    if added:
        parts.append(f"Added as stakeholders because they follow {which}: {_grouped(added)}.")
    if refused:
        lead = "Not added" if added else f"Not added as stakeholders though they follow {which}"
        parts.append(
            f"{lead} (restricted: only admins and the people involved see it): {_grouped(refused)}."
        )
    return " ".join(parts)


def add_followers(
    session: Session,
    incident: Incident,
    services: Iterable[Service],
    *,
    lifted: Iterable[Service] = (),
) -> list[str]:
    """Make the followers of `services` stakeholders of the incident, once each, and write ONE
    timeline entry saying who was added (and who may not see a restricted incident). Running
    it again adds nobody twice. `lifted`: services whose followers were kept out while the
    incident was restricted; only those people are added. Returns who was added."""
    if incident.drill:
        return []
    added: list[_Candidate] = []
    refused: list[_Candidate] = []
    for c in _candidates(session, services, lifted):
        verdict = _eligible(session, incident, c)
        if verdict is True:
            added.append(c)
        elif verdict is False:
            refused.append(c)
    now = utcnow()
    inserted = _insert_missing(session, [
        {"incident_id": incident.id, "user_id": c.follower.user_id,
         "team_id": c.follower.team_id, "via_service_id": c.service.id,
         "via_service_name": c.service.name, "created_at": now}
        for c in added
    ])  # fmt: skip
    added = [c for c in added if (c.follower.user_id, c.follower.team_id) in inserted]
    if added or refused:
        record(session, incident, "stakeholders_added", _summary(added, refused), by=None,
               new={"added": [c.label for c in added],
                    "not_added": [c.label for c in refused]})  # fmt: skip
    return [c.label for c in added]


def on_incident_declared(session: Session, event: IncidentDeclared) -> None:
    """A new incident: the followers of its services join it."""
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        add_followers(session, incident, incident.services)


def on_incident_edited(session: Session, event: IncidentEdited) -> None:
    """After an edit: followers of services added to the incident join it; a drill that turns
    out real gets all its services' followers; an incident no longer restricted gets the
    followers it kept out."""
    incident = session.get(Incident, event.incident_id)
    if incident is None or incident.drill:
        return
    if event.was_drill:
        add_followers(session, incident, incident.services)
        return
    fresh = set(event.added_service_ids)
    added = [s for s in incident.services if s.id in fresh]
    lifted = []
    if event.was_restricted and not incident.restricted:
        lifted = [s for s in incident.services if s.id not in fresh]
    if added or lifted:
        add_followers(session, incident, added, lifted=lifted)
