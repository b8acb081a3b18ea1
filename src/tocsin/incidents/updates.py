"""Status updates and the phase templates that pre-fill them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.bus import emit
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import Phase, UpdateTemplate
from tocsin.errors import InvalidTransition, ValidationFailed
from tocsin.incidents.events import UpdatePosted
from tocsin.incidents.models import Incident, Status, StatusUpdate
from tocsin.incidents.service import change_status
from tocsin.incidents.timeline import actor_name, record
from tocsin.jobs.queue import enqueue

VISIBILITIES = ("internal", "external")
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
BODY_MAX = 10_000
NEXT_UPDATE = "{next_update}"


def format_next_update(when: datetime | None, tz: str = "UTC") -> str:
    """`{next_update}` as a reader sees it: the time in their zone, named, or "soon"."""
    if when is None:
        return "soon"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%H:%M %Z on %d %b %Y")


def render_template(
    session: Session,
    incident: Incident,
    phase: str,
    *,
    next_update_at: datetime | None = None,
    tz: str = "UTC",
    keep_next_update: bool = False,
) -> str:
    """Fill the phase's template from the incident; unknown placeholders stay as written.

    With keep_next_update, `{next_update}` stays too, for `post_update` to fill in with the
    time the author picks in the same form (the composer renders the text before that)."""
    phase = v.one_of(phase, "phase", [p.value for p in Phase])
    template = session.scalar(select(UpdateTemplate).where(UpdateTemplate.phase == phase))
    if template is None:
        return ""
    values = {
        "title": incident.title,
        "reference": incident.reference,
        "services": ", ".join(s.name for s in incident.services) or "our services",
        "severity": incident.severity.display if incident.severity else "unclassified",
        "status": incident.status,
        "impact": incident.customer_impact or "",
    }
    if not keep_next_update:
        values["next_update"] = format_next_update(next_update_at, tz)
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template.body)


def fill_next_update(body: str, next_update_at: datetime | None, tz: str = "UTC") -> str:
    """The body with `{next_update}` replaced by the promised time (or "soon")."""
    return body.replace(NEXT_UPDATE, format_next_update(next_update_at, tz))


@dataclass(frozen=True)
class UpdateDraft:
    """A checked status update, as it will be posted; nothing is written yet."""

    phase: str
    visibility: str
    body: str
    next_update_at: datetime | None


def check_update(
    incident: Incident,
    *,
    phase: str,
    body: str,
    visibility: str = "internal",
    next_update_at: datetime | None = None,
    by: User | None,
) -> UpdateDraft:
    """Validate an update (for `post_update` and the composer's preview); writes nothing.

    `{next_update}` in the body becomes the promised time in the author's time zone."""
    phase = v.one_of(phase, "phase", [p.value for p in Phase])
    visibility = v.one_of(visibility, "visibility", list(VISIBILITIES))
    next_update_at = v.aware(next_update_at, "next_update_at")
    if next_update_at is not None and next_update_at <= utcnow():
        raise ValidationFailed("next_update_at must be in the future", field="next_update_at")
    body = v.text(body, "body", max_len=BODY_MAX, required=True)
    body = fill_next_update(body, next_update_at, by.timezone if by else "UTC")
    if len(body) > BODY_MAX:
        raise ValidationFailed(f"body is longer than {BODY_MAX} characters", field="body")
    if Status(incident.status) == Status.closed:
        raise InvalidTransition(f"{incident.reference} is closed; reopen it to post updates")
    if Status(incident.status) == Status.resolved and phase != Phase.resolved.value:
        raise InvalidTransition(
            f"{incident.reference} is resolved; reopen it to post a {phase} update"
        )
    return UpdateDraft(phase=phase, visibility=visibility, body=body, next_update_at=next_update_at)


def post_update(
    session: Session,
    incident: Incident,
    *,
    phase: str,
    body: str,
    visibility: str = "internal",
    next_update_at: datetime | None = None,
    by: User | None,
    occurred_at: datetime | None = None,
) -> StatusUpdate:
    """Post an update; the incident moves to the phase's status if it is not there already.
    Emits `UpdatePosted` (stakeholder communication reacts: internal updates go to the
    stakeholders and internal channels, external ones to the external channels).
    `occurred_at` (not in the future) records an update given earlier by other means."""
    now = utcnow()
    when = v.past(occurred_at, "occurred_at", now) or now
    draft = check_update(
        incident,
        phase=phase,
        body=body,
        visibility=visibility,
        next_update_at=next_update_at,
        by=by,
    )
    phase, visibility, body = draft.phase, draft.visibility, draft.body
    next_update_at = draft.next_update_at
    change_status(session, incident, phase, by=by, occurred_at=when)
    update = StatusUpdate(
        incident_id=incident.id,
        phase=phase,
        body=body,
        visibility=visibility,
        next_update_at=next_update_at,
        author=by,
        created_at=when,
    )
    session.add(update)
    session.flush()
    record(
        session,
        incident,
        "update_posted",
        f"{actor_name(by)} posted an {visibility} {phase.capitalize()} update",
        by=by,
        body=body,
        new={"phase": phase, "visibility": visibility, "update_id": update.id},
        occurred_at=when,
    )
    if next_update_at is not None:
        enqueue(
            session,
            "incidents.update_due",
            {"incident_id": incident.id, "update_id": update.id},
            run_at=next_update_at,
        )
    emit(
        session,
        UpdatePosted(incident.id, update.id, phase, visibility, by.id if by else None),
    )
    return update


def remind_if_update_overdue(session: Session, incident_id: int, update_id: int) -> bool:
    """Job: at the promised time, note on the timeline if no newer update was posted."""
    incident = session.get(Incident, incident_id)
    update = session.get(StatusUpdate, update_id)
    if incident is None or update is None or not incident.is_open:
        return False
    newer = session.scalar(
        select(StatusUpdate.id)
        .where(StatusUpdate.incident_id == incident_id, StatusUpdate.id > update_id)
        .limit(1)
    )
    if newer is not None:
        return False
    due = update.next_update_at.strftime("%H:%M UTC") if update.next_update_at else "now"
    record(
        session,
        incident,
        "reminder",
        f"An update was promised for {due} and none has been posted since",
        by=None,
        new={"update_id": update_id},
    )
    return True
