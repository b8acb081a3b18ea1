"""Actions on teams, users and services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record
from tocsin.auth.passwords import hash_password
from tocsin.catalog import membership
from tocsin.catalog.models import Service, Team, User, UserKind, UserRole, UserTimezoneChange
from tocsin.catalog.permissions import check_change, check_move, team_roles_of
from tocsin.db import utcnow, wait_for_event_processor
from tocsin.errors import Conflict, NotFound, ValidationFailed

NAME_MAX = 120
TEXT_MAX = 5000
PASSWORD_MIN = 8


def _unique(session: Session, model: type[Any], column: Any, value: str, current: Any) -> None:
    same = or_(column == value, func.lower(column) == value.lower())
    existing = session.scalar(select(model).where(same))
    if existing is not None and existing is not current:
        raise Conflict(f"a {model.__name__.lower()} named {value!r} already exists")


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team with id {team_id}")
    return team


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def get_service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"no service with id {service_id}")
    return service


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def _members(session: Session, ids: Iterable[int]) -> list[User]:
    users = []
    for user_id in dict.fromkeys(ids):
        users.append(get_user(session, user_id))
    return users


def create_team(
    session: Session, *, name: str, description: str = "", member_ids: Iterable[int] = ()
) -> Team:
    name = v.text(name, "name", max_len=NAME_MAX, required=True)
    _unique(session, Team, Team.name, name, None)
    team = Team(
        name=name,
        description=v.text(description, "description", max_len=TEXT_MAX),
        members=_members(session, member_ids),
    )
    session.add(team)
    session.flush()
    roles = membership.roles(session, team)
    _record_memberships(session, [(team, u, None, roles[u.id]) for u in team.members])
    return team


def update_team(session: Session, team: Team, changes: dict[str, Any]) -> Team:
    _only(changes, {"name", "description", "member_ids"})
    if "name" in changes:
        team.name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
        _unique(session, Team, Team.name, team.name, team)
    if "description" in changes:
        team.description = v.text(changes["description"], "description", max_len=TEXT_MAX)
    if "member_ids" in changes:
        before = membership.roles(session, team)
        team.members = _members(session, changes["member_ids"] or [])
        session.flush()
        after = membership.roles(session, team)
        _record_memberships(
            session,
            [
                (team, get_user(session, u), before.get(u), after.get(u))
                for u in sorted(before.keys() ^ after.keys())
            ],
        )
    session.flush()
    return team


def _record_memberships(
    session: Session, changes: list[tuple[Team, User, str | None, str | None]]
) -> None:
    for team, user, old, new in changes:
        membership.record_change(session, team, user, old, new)


def delete_team(session: Session, team: Team) -> None:
    session.delete(team)
    session.flush()


def _only(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")


def _password(value: str) -> str:
    if not isinstance(value, str) or len(value) < PASSWORD_MIN:
        raise ValidationFailed(
            f"password must be at least {PASSWORD_MIN} characters", field="password"
        )
    if len(value) > 1024:
        raise ValidationFailed("password is too long", field="password")
    return hash_password(value)


def create_user(
    session: Session,
    *,
    name: str,
    email: str,
    role: str = UserRole.responder.value,
    timezone: str = "UTC",
    password: str | None = None,
    team_ids: Iterable[int] = (),
) -> User:
    address = v.email(email)
    # Hashed before the first query: a caller whose transaction has not begun yet
    # (`tocsin user create`) then holds no database lock while argon2 runs.
    password_hash = _password(password) if password else None
    if user_by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists")
    user = User(
        name=v.text(name, "name", max_len=NAME_MAX, required=True),
        email=address,
        role=v.one_of(role, "role", [r.value for r in UserRole]),
        timezone=v.timezone(timezone),
        password_hash=password_hash,
        teams=[get_team(session, t) for t in dict.fromkeys(team_ids)],
    )
    session.add(user)
    session.flush()
    joined = team_roles_of(session, user.id).items()
    _record_memberships(session, [(get_team(session, t), user, None, r) for t, r in joined])
    return user


def update_user(session: Session, user: User, changes: dict[str, Any]) -> User:
    _only(changes, {"name", "email", "role", "timezone", "password", "active", "team_ids"})
    if "name" in changes:
        user.name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
    if "email" in changes:
        address = v.email(changes["email"])
        other = user_by_email(session, address)
        if other is not None and other is not user:
            raise Conflict(f"a user with email {address} already exists")
        user.email = address
    if "role" in changes:
        new_role = v.one_of(changes["role"], "role", [r.value for r in UserRole])
        if user.role == UserRole.admin.value and new_role != UserRole.admin.value:
            _keep_an_admin(session, user)
        if new_role != user.role:
            record(
                session,
                "permission.changed",
                target_type="user",
                target_id=user.id,
                target=user.email,
                detail={"scope": "org", "old_role": user.role, "new_role": new_role},
            )
        user.role = new_role
    if "timezone" in changes:
        change_timezone(session, user, changes["timezone"])
    if changes.get("password"):
        if not user.is_person:
            raise ValidationFailed("a service account has no password", field="password")
        user.password_hash = _password(changes["password"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ValidationFailed("active must be true or false", field="active")
        if not changes["active"] and user.role == UserRole.admin.value:
            _keep_an_admin(session, user)
        user.active = changes["active"]
    if "team_ids" in changes:
        before = team_roles_of(session, user.id)
        user.teams = [get_team(session, t) for t in dict.fromkeys(changes["team_ids"] or [])]
        session.flush()
        after = team_roles_of(session, user.id)
        _record_memberships(
            session,
            [
                (get_team(session, t), user, before.get(t), after.get(t))
                for t in sorted(before.keys() ^ after.keys())
            ],
        )
    session.flush()
    return user


def change_timezone(session: Session, user: User, timezone: str) -> None:
    """Set `user`'s time zone, keeping the old one on record (`UserTimezoneChange`) so that
    what happened before reads in the zone they had then. The only writer of
    `User.timezone` after creation; the same zone again changes nothing."""
    new = v.timezone(timezone)
    if new == user.timezone:
        return
    session.add(
        UserTimezoneChange(
            user_id=user.id, old_timezone=user.timezone, new_timezone=new, changed_at=utcnow()
        )
    )
    user.timezone = new
    session.flush()


def _keep_an_admin(session: Session, user: User) -> None:
    others = session.scalar(
        select(func.count(User.id)).where(
            User.role == UserRole.admin.value,
            User.active.is_(True),
            User.kind == UserKind.person.value,
            User.id != user.id,
        )
    )
    if not others:
        raise Conflict("Tocsin needs at least one active admin; promote someone else first")


def _tier(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise ValidationFailed("tier must be a number from 1 (most critical) to 4", field="tier")
    return value


def create_service(
    session: Session,
    *,
    name: str,
    description: str = "",
    team_id: int | None = None,
    tier: int = 2,
    by: User | None = None,
) -> Service:
    """Add a service; in a team, by that team's responders and admins (or org admins)."""
    name = v.text(name, "name", max_len=NAME_MAX, required=True)
    check_change(session, by, team_id, f"service {name}")
    _unique(session, Service, Service.name, name, None)
    service = Service(
        name=name,
        description=v.text(description, "description", max_len=TEXT_MAX),
        team=get_team(session, team_id) if team_id is not None else None,
        tier=_tier(tier),
    )
    session.add(service)
    session.flush()
    return service


def update_service(
    session: Session, service: Service, changes: dict[str, Any], *, by: User | None = None
) -> Service:
    _only(changes, {"name", "description", "team_id", "tier"})
    check_move(
        session,
        by,
        service.team_id,
        changes.get("team_id", service.team_id),
        f"service {service.name}",
    )
    if "name" in changes:
        service.name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
        _unique(session, Service, Service.name, service.name, service)
    if "description" in changes:
        service.description = v.text(changes["description"], "description", max_len=TEXT_MAX)
    if "team_id" in changes:
        team_id = changes["team_id"]
        service.team = get_team(session, team_id) if team_id is not None else None
    if "tier" in changes:
        service.tier = _tier(changes["tier"])
    session.flush()
    return service


def delete_service(session: Session, service: Service, *, by: User | None = None) -> None:
    """Delete the service; its integrations, events and alerts go with it (after the alert
    event processor's lock, which the cascade would otherwise deadlock with)."""
    check_change(session, by, service.team_id, f"service {service.name}")
    wait_for_event_processor(session)
    session.delete(service)
    session.flush()


def _page(session: Session, query: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.limit(limit).offset(offset)).all()), total


def list_users(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    """One page of people by name, and how many there are (service accounts are listed
    apart: auth/accounts.py)."""
    people = select(User).where(User.kind == UserKind.person.value)
    return _page(session, people.order_by(User.name, User.id), limit, offset)


def list_teams(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[Team], int]:
    """One page of teams by name, and how many there are."""
    return _page(session, select(Team).order_by(Team.name, Team.id), limit, offset)


def list_services(
    session: Session, *, limit: int = 50, offset: int = 0
) -> tuple[list[Service], int]:
    """One page of services by name, and how many there are."""
    return _page(session, select(Service).order_by(Service.name, Service.id), limit, offset)
