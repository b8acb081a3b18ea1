"""The response target on an incident: its due time, whether it was met, and the timeline
entries about it (docs/response-targets.md).

The target is met when the first response (the first acknowledgement, or resolving, whichever
came first) is no later than `Incident.response_due_at`. `tocsin.targets` computes the due
time from the severity and sets it here; the incident list, its page and the API read the
state from here; Insights counts with `met_clause` and `missed_clause`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.incidents.timeline import record

State = Literal["pending", "met", "missed", "none"]
# The share of the span from detection to due after which a pending target is close.
WARN_AT = 0.8
MISSED_KIND = "target_missed"
REMINDER_KIND = "target_reminder"
DUE_FIELD = "response_due_at"


def clock(when: datetime) -> str:
    """A due time as entries and emails say it: 14:03 UTC (with the date if not today)."""
    if when.date() == utcnow().date():
        return f"{when:%H:%M} UTC"
    return f"{when:%Y-%m-%d %H:%M} UTC"


def detected(incident: Incident) -> datetime:
    """When the response clock starts: detection, else creation."""
    return incident.detected_at or incident.created_at


def first_response(incident: Incident) -> datetime | None:
    """The first of the acknowledgement and the resolution (resolving is a response)."""
    times = [t for t in (incident.acknowledged_at, incident.resolved_at) if t is not None]
    return min(times) if times else None


def state(incident: Incident, now: datetime | None = None) -> State:
    """pending (no response yet, not due), met, missed, or none (no target)."""
    return state_of(incident.response_due_at, incident.acknowledged_at, incident.resolved_at, now)


def state_of(
    due: datetime | None,
    acknowledged: datetime | None,
    resolved: datetime | None,
    now: datetime | None = None,
) -> State:
    """`state` from the times themselves (Insights reads them as rows, not incidents)."""
    if due is None:
        return "none"
    times = [t for t in (acknowledged, resolved) if t is not None]
    responded = min(times) if times else None
    if responded is not None and responded <= due:
        return "met"
    if responded is not None or (now or utcnow()) > due:
        return "missed"
    return "pending"


def met_clause() -> ColumnElement[bool]:
    """SQL: the incident has a target and its first response came no later than its due."""
    due, acknowledged, resolved = (
        Incident.response_due_at,
        Incident.acknowledged_at,
        Incident.resolved_at,
    )
    # Every comparison with a NULL guarded: the clause is true or false, never NULL, so that
    # its negation (`missed_clause`) is exact too.
    return and_(
        due.is_not(None),
        or_(
            and_(acknowledged.is_not(None), acknowledged <= due),
            and_(resolved.is_not(None), resolved <= due),
        ),
    )


def missed_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: the incident has a target that was not met and is past due at `now` (a late
    response, or none yet). Neither this nor `met_clause`: no target, or still pending."""
    due = Incident.response_due_at
    return and_(due.is_not(None), due < now, not_(met_clause()))


def _span(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class Timer:
    """What the list and the incident page show: the words, and what the script needs."""

    state: State
    text: str  # "due in 23 min", "missed by 5 min", "met in 8 min", "—"
    due: datetime | None
    start: datetime
    warning: bool  # pending, and more than WARN_AT of the span has gone
    running: bool  # no response yet: the page's script keeps the words current

    @property
    def css(self) -> str:
        if self.state == "pending":
            return "response-warning" if self.warning else "response-pending"
        return f"response-{self.state}"


def timer(incident: Incident, now: datetime | None = None) -> Timer:
    """The response timer of an incident at `now`."""
    now = now or utcnow()
    start = detected(incident)
    current = state(incident, now)
    due = incident.response_due_at
    responded = first_response(incident)
    if due is None:
        return Timer(current, "—", None, start, False, False)
    if current == "met":
        assert responded is not None
        text = f"met in {_span((responded - start).total_seconds())}"
    elif current == "missed":
        late = (responded or now) - due
        text = f"missed by {_span(max(late.total_seconds(), 60))}"
    else:
        left = (due - now).total_seconds()
        text = f"due in {_span(math.ceil(left / 60) * 60)}"
    span = (due - start).total_seconds()
    gone = (now - start).total_seconds()
    warning = current == "pending" and (span <= 0 or gone >= WARN_AT * span)
    return Timer(current, text, due, start, warning, responded is None)


def set_response_due(
    session: Session, incident: Incident, due: datetime | None, *, reason: str | None
) -> bool:
    """Set when the first response is due. `reason` says why on the timeline ("the severity
    changed to SEV2"); None: part of the declaration, no entry of its own. Returns whether
    it changed."""
    old = incident.response_due_at
    if old == due:
        return False
    incident.response_due_at = due
    if reason is not None:
        what = f"Response due {clock(due)}" if due is not None else "No response target"
        record(
            session,
            incident,
            "field_changed",
            f"{what}: {reason}",
            by=None,
            field=DUE_FIELD,
            old=old.isoformat() if old else None,
            new=due.isoformat() if due else None,
        )
    else:
        incident.updated_at = utcnow()
    return True


def record_reminder_sent(session: Session, incident: Incident, people: int) -> TimelineEntry:
    """The reminder that the response is nearly due went to `people` people."""
    if people:
        noun = "person" if people == 1 else "people"
        summary = f"Response target reminder sent to {people} {noun}"
    else:
        summary = (
            "Response target reminder sent to nobody: no incident commander, and no team "
            "members on the affected services"
        )
    return record(
        session,
        incident,
        REMINDER_KIND,
        summary,
        by=None,
        field=DUE_FIELD,
        new=incident.response_due_at.isoformat() if incident.response_due_at else None,
    )


def record_target_missed(
    session: Session, incident: Incident, due: datetime, target: str, *, by: User | None = None
) -> TimelineEntry | None:
    """The key event "Response target missed: SEV1 (1 hour) was due 14:03 UTC", once per
    incident and due time (None if it is already on the timeline)."""
    stamp = due.isoformat()
    recorded: list[object] = list(
        session.scalars(
            select(TimelineEntry.new_value).where(
                TimelineEntry.incident_id == incident.id, TimelineEntry.kind == MISSED_KIND
            )
        )
    )
    if stamp in recorded:
        return None
    return record(
        session,
        incident,
        MISSED_KIND,
        f"Response target missed: {target} was due {clock(due)}",
        by=by,
        field=DUE_FIELD,
        new=stamp,
        key_event=True,
        occurred_at=due,
    )
