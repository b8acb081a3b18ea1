"""One handler per top-level section: how to read the current state and how to change it.

A handler maps each object's key (name, email, slug) to its document form; the engine diffs
that against the file and calls `create` or `update` with the fields that differ. New
sections (schedules, escalation policies, integrations, status pages) register here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import QueryableAttribute, Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.configfile import (
    alerting,
    chat,
    comms,
    escalation,
    plan,
    postmortems,
    roster,
    runbooks,
    schedules,
    sso,
    statuspages,
    webhooks,
    workflows,
)
from tocsin.configfile import notifications as notification_settings
from tocsin.configfile.alerting import NewKey
from tocsin.definitions import service as defs
from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity
from tocsin.errors import ValidationFailed

Doc = dict[str, Any]
M = TypeVar("M")


@dataclass(frozen=True)
class Section:
    name: str
    noun: str
    key: str
    current: Callable[[Session], dict[str, Doc]]
    # What create and update return is not used.
    create: Callable[[Session, Doc], object] | None = None
    update: Callable[[Session, str, Doc], object] | None = None
    # A section with nested lists reconciles an object itself (instead of create/update):
    # (session, key, the file's object, where new integration keys go) -> change lines.
    reconcile: Callable[[Session, str, Doc, list[NewKey]], list[str]] | None = None


def _by(
    session: Session,
    model: type[M],
    column: QueryableAttribute[str],
    value: str,
    what: str,
    field: str | None = None,
) -> M:
    obj = session.scalar(select(model).where(column == value))
    if obj is None:
        raise ValidationFailed(f"no {what} named {value!r}", field=field)
    return obj


# Severities and priorities -----------------------------------------------------------------


def _severities(session: Session) -> dict[str, Doc]:
    return {
        s.name: {
            "name": s.name,
            "label": s.label,
            "description": s.description,
            "rank": s.rank,
            "response_target_minutes": s.response_target_minutes,
            "response_next_business_day": s.response_next_business_day,
            "color": s.color,
            "default_urgency": s.default_urgency,
        }
        for s in defs.severities(session)
    }


def _severity_id(session: Session, name: str) -> int:
    return int(_by(session, Severity, Severity.name, name, "severity", "default_severity").id)


def _priorities(session: Session) -> dict[str, Doc]:
    return {
        p.name: {"name": p.name, "description": p.description, "rank": p.rank}
        for p in defs.priorities(session)
    }


def _priority_id(session: Session, name: str) -> int:
    return int(_by(session, Priority, Priority.name, name, "priority", "default_priority").id)


# Roles and templates -----------------------------------------------------------------------


def _roles(session: Session) -> dict[str, Doc]:
    return {
        r.slug: {
            "slug": r.slug,
            "name": r.name,
            "description": r.description,
            "responsibilities": r.responsibility_list,
            "multiple": r.multiple,
        }
        for r in defs.roles(session)
    }


def _role_id(session: Session, slug: str) -> int:
    return int(_by(session, IncidentRole, IncidentRole.slug, slug, "role", "roles_to_fill").id)


def _create_role(session: Session, doc: Doc) -> None:
    position = len(defs.roles(session))
    defs.create_role(session, {**doc, "position": position})


def _templates(session: Session) -> dict[str, Doc]:
    return {
        phase: {"phase": phase, "body": body} for phase, body in defs.templates(session).items()
    }


def _set_template(session: Session, doc: Doc) -> None:
    defs.set_template(session, doc["phase"], doc["body"])


# Incident types ----------------------------------------------------------------------------


def _types(session: Session) -> dict[str, Doc]:
    out = {}
    for t in defs.incident_types(session):
        out[t.name] = {
            "name": t.name,
            "description": t.description,
            "default_severity": t.default_severity.name if t.default_severity else None,
            "default_priority": t.default_priority.name if t.default_priority else None,
            "default_restricted": t.default_restricted,
            "roles_to_fill": [r.slug for r in t.roles_to_fill],
            "fields": [f.describe() for f in t.fields],
        }
    return out


def _type_data(session: Session, doc: Doc) -> Doc:
    data: Doc = {}
    for key, value in doc.items():
        if key == "default_severity":
            data["default_severity_id"] = _severity_id(session, value) if value else None
        elif key == "default_priority":
            data["default_priority_id"] = _priority_id(session, value) if value else None
        elif key == "roles_to_fill":
            data["role_ids"] = [_role_id(session, slug) for slug in value]
        else:
            data[key] = value
    return data


def _type_id(session: Session, name: str) -> int:
    return int(_by(session, IncidentType, IncidentType.name, name, "incident type").id)


# Users, teams, services ---------------------------------------------------------------------


def _users(session: Session) -> dict[str, Doc]:
    # People only: service accounts are made in Tocsin, with their tokens, not applied.
    users = session.scalars(select(User).where(User.is_person).order_by(User.name)).all()
    return {
        u.email: {"name": u.name, "email": u.email, "role": u.role, "timezone": u.timezone}
        for u in users
    }


def _user(session: Session, email: str) -> User:
    user = catalog.user_by_email(session, email)
    if user is None:
        raise ValidationFailed(f"no user with email {email!r}", field="members")
    return user


def _teams(session: Session) -> dict[str, Doc]:
    teams = session.scalars(select(Team).order_by(Team.name)).all()
    return {
        t.name: {
            "name": t.name,
            "description": t.description,
            "members": sorted(m.email for m in t.members),
        }
        for t in teams
    }


def _team_data(session: Session, doc: Doc) -> Doc:
    data = {k: v for k, v in doc.items() if k != "members"}
    if "members" in doc:
        data["member_ids"] = [_user(session, email).id for email in doc["members"]]
    return data


def _team(session: Session, name: str) -> Team:
    return _by(session, Team, Team.name, name, "team", "team")


def _services(session: Session) -> dict[str, Doc]:
    services = session.scalars(select(Service).order_by(Service.name)).all()
    return {
        s.name: {
            "name": s.name,
            "description": s.description,
            "team": s.team.name if s.team else None,
            "tier": s.tier,
        }
        for s in services
    }


def _service_data(session: Session, doc: Doc) -> Doc:
    data = {k: v for k, v in doc.items() if k != "team"}
    if "team" in doc:
        data["team_id"] = _team(session, doc["team"]).id if doc["team"] else None
    return data


def _service(session: Session, name: str) -> Service:
    return _by(session, Service, Service.name, name, "service")


# Order matters: later sections refer to earlier ones.
SECTIONS: list[Section] = [
    Section(
        "severities",
        "severity",
        "name",
        _severities,
        lambda s, d: defs.create_severity(s, d),
        lambda s, k, d: defs.update_severity(s, _severity_id(s, k), d),
    ),
    Section(
        "priorities",
        "priority",
        "name",
        _priorities,
        lambda s, d: defs.create_priority(s, d),
        lambda s, k, d: defs.update_priority(s, _priority_id(s, k), d),
    ),
    Section(
        "roles",
        "role",
        "slug",
        _roles,
        _create_role,
        lambda s, k, d: defs.update_role(s, _role_id(s, k), d),
    ),
    Section(
        "templates",
        "template",
        "phase",
        _templates,
        _set_template,
        lambda s, k, d: _set_template(s, {"phase": k, **d}),
    ),
    Section(
        "incident_types",
        "incident type",
        "name",
        _types,
        lambda s, d: defs.create_incident_type(s, _type_data(s, d)),
        lambda s, k, d: defs.update_incident_type(s, _type_id(s, k), _type_data(s, d)),
    ),
    Section(
        "postmortem_policies",
        "postmortem policy",
        "severity",
        postmortems.current_policies,
        postmortems.create_policy,
        postmortems.update_policy,
    ),
    Section(
        "postmortem_templates",
        "postmortem template",
        "incident_type",
        postmortems.current_templates,
        reconcile=postmortems.reconcile_template,
    ),
    Section(
        "users",
        "user",
        "email",
        _users,
        lambda s, d: catalog.create_user(s, **d),
        lambda s, k, d: catalog.update_user(s, _user(s, k), d),
    ),
    Section(
        "teams",
        "team",
        "name",
        _teams,
        lambda s, d: catalog.create_team(s, **_team_data(s, d)),
        lambda s, k, d: catalog.update_team(s, _team(s, k), _team_data(s, d)),
    ),
    Section(
        "services",
        "service",
        "name",
        _services,
        lambda s, d: catalog.create_service(s, **_service_data(s, d)),
        lambda s, k, d: catalog.update_service(s, _service(s, k), _service_data(s, d)),
    ),
    Section("runbooks", "runbook", "name", runbooks.current, runbooks.create, runbooks.update),
    Section("alerting", "alerting", "service", alerting.current, reconcile=alerting.reconcile),
    Section("schedules", "schedule", "name", schedules.current, reconcile=schedules.reconcile),
    Section("roster", "roster entry", "role", roster.current, reconcile=roster.reconcile),
    Section(
        "notifications",
        "notifications",
        "user",
        notification_settings.current,
        reconcile=notification_settings.reconcile,
    ),
    Section(
        "escalation_policies",
        "escalation policy",
        "name",
        escalation.current_policies,
        escalation.create_policy,
        escalation.update_policy,
    ),
    Section(
        "paging",
        "paging",
        "service",
        escalation.current_paging,
        lambda s, d: escalation.set_paging(s, d["service"], d),
        escalation.set_paging,
    ),
    Section("comms_channels", "comms channel", "name", comms.current, reconcile=comms.reconcile),
    Section(
        "service_followers",
        "service followers",
        "service",
        comms.current_followers,
        reconcile=comms.reconcile_followers,
    ),
    Section(
        "status_pages",
        "status page",
        "slug",
        statuspages.current,
        reconcile=statuspages.reconcile,
    ),
    Section("webhooks", "webhook", "name", webhooks.current, reconcile=webhooks.reconcile),
    Section("chat", "chat connection", "name", chat.current, reconcile=chat.reconcile),
    Section("sso", "identity provider", "name", sso.current, reconcile=sso.reconcile),
    Section("workflows", "workflow", "name", workflows.current, reconcile=workflows.reconcile),
    Section("plan", "response plan", "key", plan.current, update=plan.update),
]
