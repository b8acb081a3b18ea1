"""Reading and changing the response plan's own text (the rest of the plan is read from the
other domains' configuration)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.errors import ValidationFailed
from tocsin.plan.models import PlanSettings

TEXT_MAX = 20_000
FIELDS = ("what_is_an_incident", "values")


def settings(session: Session) -> PlanSettings | None:
    return session.scalar(select(PlanSettings).order_by(PlanSettings.id).limit(1))


def texts(session: Session) -> dict[str, str]:
    """{'what_is_an_incident': Markdown, 'values': Markdown}; empty strings until set."""
    row = settings(session)
    if row is None:
        return dict.fromkeys(FIELDS, "")
    return {"what_is_an_incident": row.what_is_an_incident, "values": row.incident_values}


def _clean(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", field=field)
    value = value.replace("\r\n", "\n").strip()
    if len(value) > TEXT_MAX:
        raise ValidationFailed(f"{field} is longer than {TEXT_MAX} characters", field=field)
    return value


def set_texts(
    session: Session, *, what_is_an_incident: str | None = None, values: str | None = None
) -> PlanSettings:
    """Change what counts as an incident and/or the incident values (Markdown); a field
    left None keeps its text."""
    row = settings(session)
    if row is None:
        row = PlanSettings(what_is_an_incident="", incident_values="")
        session.add(row)
    if what_is_an_incident is not None:
        row.what_is_an_incident = _clean(what_is_an_incident, "what_is_an_incident")
    if values is not None:
        row.incident_values = _clean(values, "values")
    row.updated_at = utcnow()
    session.flush()
    return row
