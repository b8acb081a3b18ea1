"""Escalation policies and a service's paging settings: the only functions that change them.

A policy is written whole: its levels and their targets are given as a list and replace what
was there, so an editor, the API and the configuration file all say the same thing the same way.
Policies cannot name other policies, so they cannot loop; the only repetition is `repeat`,
bounded by MAX_REPEAT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import Service, Team, User
from tocsin.catalog.permissions import check_change, check_move
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    LowUrgency,
    ServicePaging,
    TargetKind,
)
from tocsin.escalation.windows import window_or_none
from tocsin.schedules.models import Schedule

NAME_MAX = 120
TEXT_MAX = 20_000
MAX_LEVELS = 20
MAX_TARGETS = 50
MAX_REPEAT = 9
MAX_DELAY_MINUTES = 24 * 60


def get_policy(session: Session, policy_id: int) -> EscalationPolicy:
    policy = session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found")
    return policy


def policy_by_name(session: Session, name: str) -> EscalationPolicy | None:
    return session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))


def list_policies(session: Session) -> list[EscalationPolicy]:
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def _schedule_exists(session: Session, schedule_id: int) -> bool:
    return session.get(Schedule, schedule_id) is not None


def _target(session: Session, data: object, field: str) -> EscalationTarget:
    if not isinstance(data, dict):
        raise ValidationFailed(f"{field} must be an object with kind and id", field=field)
    kind = v.one_of(data.get("kind"), f"{field}.kind", [k.value for k in TargetKind])
    ident = data.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationFailed(f"{field}.id must be the {kind}'s id", field=f"{field}.id")
    target = EscalationTarget(kind=kind)
    if kind == TargetKind.user:
        user = session.get(User, ident)
        if user is None:
            raise UnknownReference(f"{field}: user {ident} does not exist", field=f"{field}.id")
        if not user.is_person:
            raise ValidationFailed(
                f"{field}: {user.name} is a service account and is never paged",
                field=f"{field}.id",
            )
        target.user_id = ident
    elif kind == TargetKind.team:
        if session.get(Team, ident) is None:
            raise UnknownReference(f"{field}: team {ident} does not exist", field=f"{field}.id")
        target.team_id = ident
    else:
        if not _schedule_exists(session, ident):
            raise UnknownReference(f"{field}: schedule {ident} does not exist", field=f"{field}.id")
        target.schedule_id = ident
    return target


def _levels(session: Session, data: object) -> list[EscalationLevel]:
    if not isinstance(data, list | tuple) or not data:
        raise ValidationFailed("a policy needs at least one level", field="levels")
    if len(data) > MAX_LEVELS:
        raise ValidationFailed(f"a policy has at most {MAX_LEVELS} levels", field="levels")
    levels = []
    for position, item in enumerate(data):
        field = f"levels[{position}]"
        if not isinstance(item, dict):
            raise ValidationFailed(f"{field} must be an object", field=field)
        unknown = set(item) - {"delay_minutes", "round_robin", "window", "targets"}
        if unknown:
            raise ValidationFailed(
                f"{field}: unknown field(s) {', '.join(sorted(unknown))}", field=field
            )
        delay = v.integer(
            item.get("delay_minutes", 15),
            f"{field}.delay_minutes",
            minimum=1,
            maximum=MAX_DELAY_MINUTES,
        )
        round_robin = item.get("round_robin", False)
        if not isinstance(round_robin, bool):
            raise ValidationFailed(
                f"{field}.round_robin must be true or false", field=f"{field}.round_robin"
            )
        window = window_or_none(item.get("window"), f"{field}.window")
        raw_targets = item.get("targets")
        if not isinstance(raw_targets, list | tuple) or not raw_targets:
            raise ValidationFailed(
                f"{field} needs at least one target (a user, a schedule or a team)",
                field=f"{field}.targets",
            )
        if len(raw_targets) > MAX_TARGETS:
            raise ValidationFailed(
                f"{field} has at most {MAX_TARGETS} targets", field=f"{field}.targets"
            )
        targets = [_target(session, t, f"{field}.targets[{i}]") for i, t in enumerate(raw_targets)]
        seen: set[tuple[str, int | None]] = set()
        for i, t in enumerate(targets):
            key = (t.kind, t.user_id or t.schedule_id or t.team_id)
            if key in seen:
                raise ValidationFailed(
                    f"{field}.targets[{i}] names the same {t.kind} twice",
                    field=f"{field}.targets[{i}]",
                )
            seen.add(key)
        levels.append(
            EscalationLevel(
                position=position,
                delay_minutes=delay,
                round_robin=round_robin,
                window=window.as_dict() if window else None,
                targets=targets,
            )
        )
    return levels


def _unique_name(session: Session, name: str, current: EscalationPolicy | None) -> None:
    found = policy_by_name(session, name)
    if found is not None and found is not current:
        raise Conflict(f"an escalation policy named {name!r} already exists", field="name")


def create_policy(
    session: Session,
    *,
    name: str,
    levels: Sequence[dict[str, Any]],
    description: str = "",
    repeat: int = 0,
    team_id: int | None = None,
    by: User | None = None,
) -> EscalationPolicy:
    """A new policy with its levels (each: delay_minutes, round_robin, window, targets); in a
    team, by its responders and admins (or org admins)."""
    name = v.text(name, "name", max_len=NAME_MAX, required=True)
    check_change(session, by, _team_id(session, team_id), f"escalation policy {name}")
    _unique_name(session, name, None)
    policy = EscalationPolicy(
        name=name,
        description=v.text(description, "description", max_len=TEXT_MAX),
        repeat=v.integer(repeat, "repeat", minimum=0, maximum=MAX_REPEAT),
        team_id=_team_id(session, team_id),
        levels=_levels(session, levels),
    )
    session.add(policy)
    session.flush()
    return policy


def _team_id(session: Session, team_id: object) -> int | None:
    if team_id is None:
        return None
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise ValidationFailed("team_id must be a team's id", field="team_id")
    if session.get(Team, team_id) is None:
        raise UnknownReference(f"team {team_id} does not exist", field="team_id")
    return team_id


def update_policy(
    session: Session,
    policy: EscalationPolicy,
    changes: dict[str, Any],
    *,
    by: User | None = None,
) -> EscalationPolicy:
    """Change any of name, description, repeat, team_id, levels (levels replace the old ones)."""
    unknown = set(changes) - {"name", "description", "repeat", "team_id", "levels"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    new_team = _team_id(session, changes["team_id"]) if "team_id" in changes else policy.team_id
    check_move(session, by, policy.team_id, new_team, f"escalation policy {policy.name}")
    if "name" in changes:
        name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
        _unique_name(session, name, policy)
        policy.name = name
    if "description" in changes:
        policy.description = v.text(changes["description"], "description", max_len=TEXT_MAX)
    if "repeat" in changes:
        policy.repeat = v.integer(changes["repeat"], "repeat", minimum=0, maximum=MAX_REPEAT)
    if "team_id" in changes:
        policy.team_id = _team_id(session, changes["team_id"])
    if "levels" in changes:
        levels = _levels(session, changes["levels"])
        # Keep each level's round-robin turn when the level stays where it was.
        for new, old in zip(levels, policy.levels, strict=False):
            new.round_robin_next = old.round_robin_next
        policy.levels.clear()
        session.flush()  # the old levels go before the new ones take their positions
        policy.levels.extend(levels)
    policy.updated_at = utcnow()
    session.flush()
    return policy


def delete_policy(session: Session, policy: EscalationPolicy, *, by: User | None = None) -> None:
    """Delete a policy no service uses (a service without one would page nobody)."""
    check_change(session, by, policy.team_id, f"escalation policy {policy.name}")
    users = session.scalars(
        select(Service.name)
        .join(ServicePaging, ServicePaging.service_id == Service.id)
        .where(ServicePaging.policy_id == policy.id)
        .order_by(Service.name)
    ).all()
    if users:
        raise Conflict(
            f"escalation policy {policy.name!r} is used by {', '.join(users)}; "
            "give them another policy first"
        )
    session.delete(policy)
    session.flush()


def policy_as_data(policy: EscalationPolicy) -> list[dict[str, Any]]:
    """The levels as the data `create_policy` takes (editors, export)."""
    return [
        {
            "delay_minutes": level.delay_minutes,
            "round_robin": level.round_robin,
            "window": level.window,
            "targets": [
                {"kind": t.kind, "id": t.user_id or t.schedule_id or t.team_id}
                for t in level.targets
            ],
        }
        for level in policy.levels
    ]


# -- a service's paging settings ---------------------------------------------------------------


def paging_for(session: Session, service_id: int) -> ServicePaging | None:
    return session.get(ServicePaging, service_id)


def set_service_paging(
    session: Session,
    service: Service,
    *,
    policy_id: int | None,
    low_urgency: str = LowUrgency.notify.value,
    support_hours: dict[str, Any] | None = None,
    by: User | None = None,
) -> ServicePaging:
    """Which policy pages for `service`, and what low urgency does there (a change to the
    service: by its team's responders and admins, or org admins)."""
    check_change(session, by, service.team_id, f"service {service.name}")
    if policy_id is not None:
        if isinstance(policy_id, bool) or not isinstance(policy_id, int):
            raise ValidationFailed("policy_id must be a policy's id", field="policy_id")
        if session.get(EscalationPolicy, policy_id) is None:
            raise UnknownReference(
                f"escalation policy {policy_id} does not exist", field="policy_id"
            )
    low_urgency = v.one_of(low_urgency, "low_urgency", [m.value for m in LowUrgency])
    hours = window_or_none(support_hours, "support_hours")
    if low_urgency == LowUrgency.support_hours and hours is None:
        raise ValidationFailed(
            "low_urgency support_hours needs the service's support hours", field="support_hours"
        )
    paging = session.get(ServicePaging, service.id)
    if paging is None:
        paging = ServicePaging(service_id=service.id)
        session.add(paging)
    paging.policy_id = policy_id
    paging.low_urgency = low_urgency
    paging.support_hours = hours.as_dict() if hours else None
    paging.updated_at = utcnow()
    session.flush()
    return paging
