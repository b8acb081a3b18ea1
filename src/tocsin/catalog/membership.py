"""A team's members and their team roles; every change is recorded in the audit trail
(`permission.changed`, with the old and new role: None for "not a member")."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record, record_refused
from tocsin.catalog.models import Team, TeamRole, User, team_members
from tocsin.catalog.permissions import check_members
from tocsin.errors import Forbidden, NotFound, ValidationFailed

ROLES = [r.value for r in TeamRole]


def roles(session: Session, team: Team) -> dict[int, str]:
    """{user id: team role} of the team's members."""
    rows = session.execute(
        select(team_members.c.user_id, team_members.c.role).where(team_members.c.team_id == team.id)
    )
    return {cast(int, user_id): cast(str, role) for user_id, role in rows}


def members(session: Session, team: Team) -> list[tuple[User, str]]:
    """The team's members by name, each with their team role."""
    rows = session.execute(
        select(User, team_members.c.role)
        .join(team_members, team_members.c.user_id == User.id)
        .where(team_members.c.team_id == team.id)
        .order_by(User.name, User.id)
    )
    return [(cast(User, user), cast(str, role)) for user, role in rows]


def _recorded(team: Team, user: User, **detail: object) -> dict[str, Any]:
    """A `permission.changed` record's target and detail for `user`'s role in `team`."""
    return {
        "target_type": "team",
        "target_id": team.id,
        "target": team.name,
        "detail": {"scope": "team", "team_id": team.id, "user_id": user.id, "user": user.email,
                   **detail},
    }  # fmt: skip


def record_change(
    session: Session, team: Team, user: User, old: str | None, new: str | None
) -> None:
    """One `permission.changed` record: `user`'s role in `team` went from `old` to `new`."""
    record(session, "permission.changed", **_recorded(team, user, old_role=old, new_role=new))


def _check(session: Session, by: User | None, team: Team, user: User, role: str | None) -> None:
    """Forbidden unless `by` may change `team`'s members; a refusal is recorded (as
    `permission.changed`, outcome refused), though the caller rolls back."""
    try:
        check_members(session, by, team)
    except Forbidden as exc:
        fields = _recorded(team, user, new_role=role, reason=exc.message)
        record_refused(session, "permission.changed", **fields)
        raise


def set_member(
    session: Session, team: Team, user: User, role: str, *, by: User | None = None
) -> str | None:
    """Make `user` a member of `team` with `role` (or change their role); returns the role
    they had (None if they were not a member). The same role again changes nothing."""
    _check(session, by, team, user, role)
    role = v.one_of(role, "role", ROLES)
    if not user.active:
        raise ValidationFailed(f"{user.email} is deactivated", field="user_id")
    old = roles(session, team).get(user.id)
    if old == role:
        return old
    where = (team_members.c.team_id == team.id) & (team_members.c.user_id == user.id)
    if old is None:
        session.execute(insert(team_members).values(team_id=team.id, user_id=user.id, role=role))
    else:
        session.execute(update(team_members).where(where).values(role=role))
    # The relationships loaded before no longer say who is in the team.
    session.expire(team, ["members"])
    session.expire(user, ["teams"])
    record_change(session, team, user, old, role)
    session.flush()
    return old


def remove_member(session: Session, team: Team, user: User, *, by: User | None = None) -> None:
    """Take `user` out of `team`."""
    _check(session, by, team, user, None)
    old = roles(session, team).get(user.id)
    if old is None:
        raise NotFound(f"{user.email} is not a member of team {team.name}")
    session.execute(
        delete(team_members).where(
            team_members.c.team_id == team.id, team_members.c.user_id == user.id
        )
    )
    session.expire(team, ["members"])
    session.expire(user, ["teams"])
    record_change(session, team, user, old, None)
    session.flush()
