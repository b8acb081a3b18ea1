"""The `escalation_policies` and `paging` sections: policies with their levels, and which
policy each service pages with. References are names and emails, never ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team
from tocsin.errors import ValidationFailed
from tocsin.escalation import policies
from tocsin.escalation.models import EscalationPolicy, ServicePaging
from tocsin.schedules.models import Schedule

Doc = dict[str, Any]


def _schedule_name(session: Session, schedule_id: int) -> str:
    schedule = session.get(Schedule, schedule_id)
    return schedule.name if schedule else str(schedule_id)


def _target_doc(session: Session, target: Any) -> Doc:
    if target.user is not None:
        return {"user": target.user.email}
    if target.team is not None:
        return {"team": target.team.name}
    return {"schedule": _schedule_name(session, target.schedule_id)}


def current_policies(session: Session) -> dict[str, Doc]:
    docs = {}
    for policy in policies.list_policies(session):
        docs[policy.name] = {
            "name": policy.name,
            "description": policy.description,
            "repeat": policy.repeat,
            "team": policy.team.name if policy.team else None,
            "levels": [
                {
                    "delay_minutes": level.delay_minutes,
                    "round_robin": level.round_robin,
                    "window": level.window,
                    "targets": [_target_doc(session, t) for t in level.targets],
                }
                for level in policy.levels
            ],
        }
    return docs


def _target_data(session: Session, doc: Doc, field: str) -> Doc:
    if len(doc) != 1:
        raise ValidationFailed(
            f"{field}: a target is one of user (an email), schedule or team (a name)", field=field
        )
    kind, name = next(iter(doc.items()))
    if kind == "user":
        user = catalog.user_by_email(session, str(name))
        if user is None:
            raise ValidationFailed(f"{field}: no user with email {name!r}", field=field)
        return {"kind": "user", "id": user.id}
    model: Any = {"team": Team, "schedule": Schedule}.get(kind)
    if model is None:
        raise ValidationFailed(
            f"{field}: a target is one of user, schedule or team (got {kind!r})", field=field
        )
    found = session.scalar(select(model).where(func.lower(model.name) == str(name).lower()))
    if found is None:
        raise ValidationFailed(f"{field}: no {kind} named {name!r}", field=field)
    return {"kind": kind, "id": found.id}


def _policy_data(session: Session, doc: Doc) -> Doc:
    data = {k: v for k, v in doc.items() if k not in ("team", "levels")}
    if "team" in doc:
        team = doc["team"]
        if team is None:
            data["team_id"] = None
        else:
            found = session.scalar(select(Team).where(func.lower(Team.name) == team.lower()))
            if found is None:
                raise ValidationFailed(f"no team named {team!r}", field="team")
            data["team_id"] = found.id
    if "levels" in doc:
        data["levels"] = [
            {
                **{k: v for k, v in level.items() if k != "targets"},
                "targets": [
                    _target_data(session, t, f"levels[{i}].targets[{j}]")
                    for j, t in enumerate(level.get("targets", []))
                ],
            }
            for i, level in enumerate(doc["levels"])
        ]
    return data


def create_policy(session: Session, doc: Doc) -> None:
    policies.create_policy(session, **_policy_data(session, doc))


def update_policy(session: Session, name: str, changes: Doc) -> None:
    policy = session.scalar(
        select(EscalationPolicy).where(func.lower(EscalationPolicy.name) == name.lower())
    )
    assert policy is not None  # the engine only updates what `current_policies` listed
    policies.update_policy(session, policy, _policy_data(session, changes))


def current_paging(session: Session) -> dict[str, Doc]:
    rows = session.execute(
        select(Service, ServicePaging)
        .join(ServicePaging, ServicePaging.service_id == Service.id)
        .order_by(Service.name)
    ).all()
    return {
        service.name: {
            "service": service.name,
            "escalation_policy": paging.policy.name if paging.policy else None,
            "low_urgency": paging.low_urgency,
            "support_hours": paging.support_hours,
        }
        for service, paging in rows
    }


def set_paging(session: Session, service_name: str, doc: Doc) -> None:
    service = session.scalar(
        select(Service).where(func.lower(Service.name) == service_name.lower())
    )
    if service is None:
        raise ValidationFailed(f"no service named {service_name!r}", field="service")
    existing = current_paging(session).get(service.name, {})
    merged = {**existing, **doc}
    policy_id = None
    if merged.get("escalation_policy"):
        name = merged["escalation_policy"]
        policy = session.scalar(
            select(EscalationPolicy).where(func.lower(EscalationPolicy.name) == name.lower())
        )
        if policy is None:
            raise ValidationFailed(
                f"no escalation policy named {name!r}", field="escalation_policy"
            )
        policy_id = policy.id
    policies.set_service_paging(
        session,
        service,
        policy_id=policy_id,
        low_urgency=merged.get("low_urgency") or "notify",
        support_hours=merged.get("support_hours"),
    )
