"""The postmortem policy per severity: whether one is required, and when it is due.

Defaults follow PagerDuty's process: SEV1 and SEV2 need a postmortem; the review meeting is
due within 3 calendar days of resolving a SEV1 and 5 business days of a SEV2; the draft is
due 24 hours before the meeting. SEV3 and SEV4 need none (anyone may still start one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.errors import NotFound, ValidationFailed
from tocsin.postmortems.models import MeetingUnit, PostmortemPolicy
from tocsin.postmortems.workdays import (
    WorkCalendar,
    add_calendar_days,
    add_working_days,
    parse_days,
)

# By severity name, as `definitions.defaults.SEVERITIES` names them.
DEFAULT_POLICIES: dict[str, dict[str, Any]] = {
    "SEV1": {
        "required": True,
        "meeting_within": 3,
        "meeting_unit": MeetingUnit.calendar_days.value,
        "draft_hours_before": 24,
    },
    "SEV2": {
        "required": True,
        "meeting_within": 5,
        "meeting_unit": MeetingUnit.business_days.value,
        "draft_hours_before": 24,
    },
    "SEV3": {
        "required": False,
        "meeting_within": 5,
        "meeting_unit": MeetingUnit.business_days.value,
        "draft_hours_before": 24,
    },
    "SEV4": {
        "required": False,
        "meeting_within": 5,
        "meeting_unit": MeetingUnit.business_days.value,
        "draft_hours_before": 24,
    },
}


@dataclass(frozen=True)
class Deadlines:
    meeting_due_at: datetime
    draft_due_at: datetime


def calendar_from(settings: Settings) -> WorkCalendar:
    """The organisation's working week and time zone (TOCSIN_WORKING_DAYS, _ORG_TIMEZONE)."""
    return WorkCalendar(parse_days(settings.working_days), settings.org_timezone)


def ensure_default_policies(session: Session) -> bool:
    """Give the default severities their policies on a database that has none. Returns True
    if it did. (Migration 0025 does the same for databases that had severities before.)"""
    if session.scalar(select(func.count(PostmortemPolicy.id))):
        return False
    severities = session.scalars(select(Severity).where(Severity.name.in_(DEFAULT_POLICIES)))
    for severity in severities:
        session.add(PostmortemPolicy(severity_id=severity.id, **DEFAULT_POLICIES[severity.name]))
    session.flush()
    return True


def policy_for(session: Session, severity_id: int | None) -> PostmortemPolicy | None:
    if severity_id is None:
        return None
    return session.scalar(
        select(PostmortemPolicy).where(PostmortemPolicy.severity_id == severity_id)
    )


def deadlines(policy: PostmortemPolicy, resolved_at: datetime, calendar: WorkCalendar) -> Deadlines:
    """When the meeting and the draft are due for an incident resolved at `resolved_at`."""
    if policy.meeting_unit == MeetingUnit.business_days.value:
        meeting = add_working_days(resolved_at, policy.meeting_within, calendar)
    else:
        meeting = add_calendar_days(resolved_at, policy.meeting_within, calendar)
    return Deadlines(meeting, meeting - timedelta(hours=policy.draft_hours_before))


def all_policies(session: Session) -> list[tuple[Severity, PostmortemPolicy | None]]:
    """Every severity, most severe first, with its policy (None: no postmortem needed)."""
    severities = session.scalars(select(Severity).order_by(Severity.rank, Severity.id)).all()
    found = {p.severity_id: p for p in session.scalars(select(PostmortemPolicy))}
    return [(severity, found.get(severity.id)) for severity in severities]


def set_policy(session: Session, severity_id: int, data: dict[str, Any]) -> PostmortemPolicy:
    """Create or replace a severity's policy. Deadlines of postmortems already started stay
    as they were computed."""
    severity = session.get(Severity, severity_id)
    if severity is None:
        raise NotFound(f"no severity with id {severity_id}")
    unknown = set(data) - {"required", "meeting_within", "meeting_unit", "draft_hours_before"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    required = data.get("required", False)
    if not isinstance(required, bool):
        raise ValidationFailed("required must be true or false", field="required")
    within = v.integer(data.get("meeting_within", 5), "meeting_within", minimum=0, maximum=365)
    unit = v.one_of(
        data.get("meeting_unit", MeetingUnit.business_days.value),
        "meeting_unit",
        [u.value for u in MeetingUnit],
    )
    draft = v.integer(
        data.get("draft_hours_before", 24), "draft_hours_before", minimum=0, maximum=24 * 60
    )
    policy = policy_for(session, severity.id)
    if policy is None:
        policy = PostmortemPolicy(severity_id=severity.id)
        session.add(policy)
    policy.required = required
    policy.meeting_within = within
    policy.meeting_unit = unit
    policy.draft_hours_before = draft
    session.flush()
    return policy
