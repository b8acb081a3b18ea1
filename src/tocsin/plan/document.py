"""The response plan as one document, built from live configuration and laid out as
Atlassian's "Sheet": what counts as an incident, the severities and what each sets in motion
(paging at its default urgency, the enabled workflows it starts, its postmortem policy),
the roles with their primary and backup, the communication channels, the update templates,
the escalation paths, and the incident values.

Every renderer (the page, Markdown, PDF, JSON) reads this tree; nothing here is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Service
from tocsin.comms import service as comms
from tocsin.comms.models import Audience, CommsChannel, Impact
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    ServicePaging,
    TargetKind,
)
from tocsin.plan import service
from tocsin.postmortems import policies
from tocsin.postmortems.models import MeetingUnit, PostmortemPolicy
from tocsin.roster import service as roster
from tocsin.schedules.models import Schedule
from tocsin.workflows import queries as workflow_queries

PHASE_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
UNSET = "Not written yet: an admin sets it in Settings → Response plan."


@dataclass(frozen=True)
class MotionRow:
    """An enabled workflow an incident of the severity starts."""

    workflow: str
    when: str  # "when declared", "when its severity changes to it"
    limits: str  # its other conditions in words ("" when none)
    actions: tuple[str, ...]  # each action in words


@dataclass(frozen=True)
class SeverityRow:
    name: str
    label: str
    description: str  # Markdown
    response_target: str
    urgency: str  # "high" or "low"
    postmortem: str  # whether one is required, and its deadlines
    paging: str  # what paging does with the default urgency, in words
    workflows: tuple[MotionRow, ...]  # what else it sets in motion, in order


@dataclass(frozen=True)
class RoleRow:
    slug: str
    name: str
    description: str  # Markdown
    responsibilities: tuple[str, ...]
    primary: str
    backup: str


@dataclass(frozen=True)
class ChannelRow:
    name: str
    audience: str
    description: str  # Markdown
    when: str
    who: str
    how: str  # Markdown: the channel's instructions
    reach: str  # where it posts, tokens masked; "" for manual channels


@dataclass(frozen=True)
class TemplateRow:
    phase: str
    label: str
    body: str  # Markdown, with its {placeholders}


@dataclass(frozen=True)
class LevelRow:
    number: int
    targets: tuple[str, ...]
    escalate_after_minutes: int


@dataclass(frozen=True)
class EscalationPath:
    service: str
    policy: str | None  # None: the service pages nobody
    levels: tuple[LevelRow, ...]
    repeat: int


@dataclass(frozen=True)
class Plan:
    generated_at: datetime
    what_is_an_incident: str  # Markdown
    values: str  # Markdown
    severities: tuple[SeverityRow, ...]
    roles: tuple[RoleRow, ...]
    channels: tuple[ChannelRow, ...]
    templates: tuple[TemplateRow, ...]
    escalation: tuple[EscalationPath, ...]


def _postmortem(policy: PostmortemPolicy | None) -> str:
    if policy is None or not policy.required:
        return "not required"
    unit = "calendar" if policy.meeting_unit == MeetingUnit.calendar_days.value else "business"
    return (
        f"required: review meeting within {policy.meeting_within} {unit} days of resolving, "
        f"draft due {policy.draft_hours_before} hours before the meeting"
    )


def _paging(urgency: str) -> str:
    if urgency == "low":
        return (
            "low-urgency paging through each service's escalation policy, as the service's "
            "low-urgency rule says (notify, wait for support hours, or page)"
        )
    return "high-urgency paging through each service's escalation policy"


def _severities(session: Session) -> tuple[SeverityRow, ...]:
    rows = policies.all_policies(session)
    motion = workflow_queries.set_in_motion(session, [s.name for s, _ in rows])
    return tuple(
        SeverityRow(
            s.name,
            s.label,
            s.description,
            s.response_target_text,
            s.default_urgency,
            _postmortem(policy),
            _paging(s.default_urgency),
            tuple(MotionRow(m.name, m.when, m.limits, m.actions) for m in motion[s.name]),
        )
        for s, policy in rows
    )


def _roles(session: Session, at: datetime) -> tuple[RoleRow, ...]:
    entries = {e.role_id: e for e in roster.entries(session)}
    rows = []
    for role in defs.roles(session):
        entry = entries.get(role.id)
        slots = [a.text for a in roster.resolve(session, entry, at)] if entry else []
        primary, backup = slots or ["nobody set", "nobody set"]
        rows.append(
            RoleRow(
                role.slug,
                role.name,
                role.description,
                tuple(role.responsibility_list),
                primary,
                backup,
            )
        )
    return tuple(rows)


def _when(channel: CommsChannel) -> str:
    parts = ["every update" if channel.automatic else "on request"]
    if channel.severities:
        parts.append("severities " + ", ".join(s.name for s in channel.severities))
    if channel.services:
        parts.append("services " + ", ".join(s.name for s in channel.services))
    if channel.customer_impact == Impact.yes.value:
        parts.append("only with customer impact")
    elif channel.customer_impact == Impact.no.value:
        parts.append("only without customer impact")
    if channel.audience == Audience.internal.value and channel.include_restricted:
        parts.append("restricted incidents too")
    if channel.cadence_minutes:
        parts.append(f"an update every {channel.cadence_minutes} minutes while open")
    if channel.paused:
        parts.append("paused")
    return "; ".join(parts)


def _who(channel: CommsChannel) -> str:
    names = [f"{r}s" for r in channel.post_user_roles]
    names += [r.name for r in channel.post_incident_roles]
    return ", ".join(names) if names else "any responder"


def _channels(session: Session) -> tuple[ChannelRow, ...]:
    return tuple(
        ChannelRow(
            c.name,
            c.audience,
            c.description,
            _when(c),
            _who(c),
            c.instructions,
            comms.display_target(c) if c.sendable else "",
        )
        for c in comms.list_channels(session)
    )


def _templates(session: Session) -> tuple[TemplateRow, ...]:
    return tuple(
        TemplateRow(phase, PHASE_LABELS.get(phase, phase.title()), body)
        for phase, body in defs.templates(session).items()
    )


def _target(target: EscalationTarget, schedules: dict[int, str]) -> str:
    if target.kind == TargetKind.user.value and target.user is not None:
        return target.user.name
    if target.kind == TargetKind.team.value and target.team is not None:
        return f"team {target.team.name}"
    if target.schedule_id is not None:
        return f"on call for {schedules.get(target.schedule_id, 'a deleted schedule')}"
    return "nobody"


def _escalation(session: Session) -> tuple[EscalationPath, ...]:
    paging = {
        p.service_id: p.policy
        for p in session.scalars(
            select(ServicePaging).options(
                selectinload(ServicePaging.policy)
                .selectinload(EscalationPolicy.levels)
                .selectinload(EscalationLevel.targets)
                .options(selectinload(EscalationTarget.user), selectinload(EscalationTarget.team))
            )
        )
    }
    schedules = {s.id: s.name for s in session.scalars(select(Schedule))}
    paths = []
    for svc in session.scalars(select(Service).order_by(Service.name)):
        policy = paging.get(svc.id)
        if policy is None:
            paths.append(EscalationPath(svc.name, None, (), 0))
            continue
        levels = tuple(
            LevelRow(
                level.position + 1,
                tuple(_target(t, schedules) for t in level.targets),
                level.delay_minutes,
            )
            for level in policy.levels
        )
        paths.append(EscalationPath(svc.name, policy.name, levels, policy.repeat))
    return tuple(paths)


def build(session: Session, at: datetime | None = None) -> Plan:
    """The plan as configured now (the roster's on-call people at `at`, now by default)."""
    at = at or utcnow()
    texts = service.texts(session)
    return Plan(
        generated_at=at,
        what_is_an_incident=texts["what_is_an_incident"],
        values=texts["values"],
        severities=_severities(session),
        roles=_roles(session, at),
        channels=_channels(session),
        templates=_templates(session),
        escalation=_escalation(session),
    )
