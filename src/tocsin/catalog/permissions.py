"""Who may change what a team owns: the one policy for schedules, escalation policies,
services, integrations and a team's membership (docs/permissions.md).

- An org admin may change anything.
- A team admin may change the team's schedules, escalation policies, services and
  integrations, and the team's members and their team roles.
- A team responder may change what the team owns, but not its membership.
- Anyone else (a team viewer, a responder of another team, someone in no team) may not.
- Team roles never lift an org role: an org viewer changes nothing, whatever their team role.
- What no team owns keeps the org role its route asks for (`unowned`).

Service functions call the `check_*` functions with the person acting (`by`); `by=None` is
Tocsin itself or the operator's local CLI, which already holds the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.audit.trail import record_refused
from tocsin.catalog.models import Team, TeamRole, User, UserRole, team_members
from tocsin.errors import Forbidden, UnknownReference, ValidationFailed

# Team roles that may change what the team owns.
CHANGERS = frozenset({TeamRole.admin.value, TeamRole.responder.value})


def team_roles_of(session: Session, user_id: int) -> dict[int, str]:
    """{team id: team role} for every team `user_id` is a member of."""
    rows = session.execute(
        select(team_members.c.team_id, team_members.c.role).where(team_members.c.user_id == user_id)
    )
    return {cast(int, team_id): cast(str, role) for team_id, role in rows}


def team_role(session: Session, user_id: int, team_id: int) -> str | None:
    """`user_id`'s role in the team, or None if they are not a member."""
    return session.scalar(
        select(team_members.c.role).where(
            team_members.c.team_id == team_id, team_members.c.user_id == user_id
        )
    )


@dataclass(frozen=True)
class Scope:
    """What one person may change, loaded once (for pages that show many things)."""

    user: User
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def org_admin(self) -> bool:
        return self.user.can(UserRole.admin)

    def may_change(self, team_id: int | None, unowned: UserRole = UserRole.admin) -> bool:
        """May change a thing owned by `team_id` (or owned by no team, for None)."""
        if self.org_admin:
            return True
        if team_id is None:
            return self.user.can(unowned)
        return self.user.can(UserRole.responder) and self.roles.get(team_id) in CHANGERS

    def may_manage(self, team_id: int) -> bool:
        """May change the team's members and their team roles."""
        if self.org_admin:
            return True
        return self.user.can(UserRole.responder) and self.roles.get(team_id) == TeamRole.admin

    @property
    def any_team(self) -> bool:
        """May change something owned by some team (or is an org admin)."""
        return self.org_admin or any(self.may_change(t) for t in self.roles)


def scope(session: Session, user: User) -> Scope:
    return Scope(user, team_roles_of(session, user.id))


def _team_name(session: Session, team_id: int) -> str:
    team = session.get(Team, team_id)
    if team is None:
        raise UnknownReference(f"no team with id {team_id}", field="team_id")
    return team.name


def check_change(
    session: Session,
    by: User | None,
    team_id: int | None,
    what: str,
    *,
    unowned: UserRole = UserRole.admin,
) -> None:
    """Raise Forbidden unless `by` may change `what`, owned by `team_id` (None: no team)."""
    if by is None:
        return
    if team_id is not None:
        if isinstance(team_id, bool) or not isinstance(team_id, int):
            raise ValidationFailed("team_id must be a team's id", field="team_id")
        _team_name(session, team_id)  # an unknown team is a 404 whoever asks
    if scope(session, by).may_change(team_id, unowned):
        return
    if team_id is None:
        message = f"changing {what} needs the {unowned.value} role; you are a {by.role}"
        raise _refused(session, None, what, message)
    team = _team_name(session, team_id)
    if not by.can(UserRole.responder):
        message = (
            f"{what} belongs to team {team}: changing it needs the responder role; "
            f"you are a {by.role}"
        )
        raise _refused(session, (team_id, team), what, message)
    role = team_role(session, by.id, team_id)
    where = f"you are a viewer of team {team}" if role else f"you are not a member of team {team}"
    message = (
        f"{what} belongs to team {team}: only its responders and admins may change it; {where}"
    )
    raise _refused(session, (team_id, team), what, message)


def _refused(session: Session, team: tuple[int, str] | None, what: str, message: str) -> Forbidden:
    """The Forbidden to raise, recorded in the audit trail (`config.refused`, by who acts)
    even though the caller rolls back."""
    record_refused(
        session,
        "config.refused",
        target_type="team" if team else "",
        target_id=team[0] if team else None,
        target=team[1] if team else "",
        detail={"what": what, "reason": message},
    )
    return Forbidden(message)


def check_move(
    session: Session,
    by: User | None,
    old_team_id: int | None,
    new_team_id: int | None,
    what: str,
    *,
    unowned: UserRole = UserRole.admin,
) -> None:
    """Changing which team owns `what` needs the right to change it in both teams."""
    check_change(session, by, old_team_id, what, unowned=unowned)
    if new_team_id != old_team_id:
        target = f"{what} into team {_team_name(session, new_team_id)}" if new_team_id else what
        check_change(session, by, new_team_id, target, unowned=unowned)


def check_members(session: Session, by: User | None, team: Team) -> None:
    """Raise Forbidden unless `by` may change the team's members and their roles."""
    if by is None or scope(session, by).may_manage(team.id):
        return
    raise Forbidden(
        f"only team {team.name}'s admins and org admins may change its members and roles"
    )
