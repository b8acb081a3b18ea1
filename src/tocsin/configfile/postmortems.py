"""The `postmortem_policies` and `postmortem_templates` sections.

A policy per severity (matched by the severity's name): whether its incidents need a
postmortem and its deadlines. A template per incident type (matched by the type's name): its
sections, in order, set as listed. Severities and types missing from the file are left alone,
and nothing is deleted: a type goes back to PagerDuty's template through the UI or the API.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.configfile.alerting import NewKey
from tocsin.definitions.models import IncidentType, Severity
from tocsin.errors import ValidationFailed
from tocsin.postmortems import policies, type_templates

Doc = dict[str, Any]
POLICY_FIELDS = ("required", "meeting_within", "meeting_unit", "draft_hours_before")


class PostmortemPolicyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: str = Field(max_length=32, description="a severity's name")
    required: bool = False
    meeting_within: int = Field(default=5, description="days after resolving (0-365)")
    meeting_unit: str = Field(default="business_days", description="or calendar_days")
    draft_hours_before: int = Field(default=24, description="hours before the meeting")


class TemplateSectionDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=64)
    title: str = Field(max_length=120)
    kind: str = Field(default="markdown", description="markdown, or a pre-filled part")
    guidance: str = ""
    text: str = ""


class PostmortemTemplateDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_type: str = Field(max_length=120, description="an incident type's name")
    sections: list[TemplateSectionDoc]


def _severity(session: Session, name: str) -> Severity:
    found = session.scalar(select(Severity).where(func.lower(Severity.name) == name.lower()))
    if found is None:
        raise ValidationFailed(f"no severity named {name!r}", field="severity")
    return found


def current_policies(session: Session) -> dict[str, Doc]:
    """Each severity that has a policy, by its name."""
    return {
        severity.name: {
            "severity": severity.name,
            **{f: getattr(policy, f) for f in POLICY_FIELDS},
        }
        for severity, policy in policies.all_policies(session)
        if policy is not None
    }


def create_policy(session: Session, doc: Doc) -> None:
    severity = _severity(session, doc["severity"])
    policies.set_policy(session, severity.id, {f: doc[f] for f in POLICY_FIELDS if f in doc})


def update_policy(session: Session, name: str, changed: Doc) -> None:
    """`changed` holds only the fields that differ: the others keep their current value."""
    severity = _severity(session, name)
    now = current_policies(session)[severity.name]
    policies.set_policy(session, severity.id, {f: changed.get(f, now[f]) for f in POLICY_FIELDS})


def current_templates(session: Session) -> dict[str, Doc]:
    """Each incident type that has its own template, by the type's name."""
    return {
        own.incident_type.name: {
            "incident_type": own.incident_type.name,
            "sections": [dict(s) for s in own.sections],
        }
        for own in type_templates.all_templates(session)
    }


def _changes(before: list[Doc], after: list[Doc]) -> list[str]:
    """What differs between two lists of sections, in words."""
    old = {s["key"]: s for s in before}
    new = {s["key"]: s for s in after}
    parts = [f"add section {k!r}" for k in new if k not in old]
    parts += [f"remove section {k!r}" for k in old if k not in new]
    for key, section in new.items():
        if key in old:
            fields = [f for f in type_templates.FIELDS if section[f] != old[key][f]]
            if fields:
                parts.append(f"section {key!r}: {', '.join(fields)}")
    kept_before = [k for k in old if k in new]
    kept_after = [k for k in new if k in old]
    if kept_before != kept_after:
        parts.append("order: " + ", ".join(new))
    return parts


def reconcile_template(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the incident type's template the file's sections (validated as the API does)."""
    itype = session.scalar(
        select(IncidentType).where(func.lower(IncidentType.name) == name.lower())
    )
    if itype is None:
        raise ValidationFailed(f"no incident type named {name!r}", field="incident_type")
    desired = type_templates.validate_sections(doc["sections"])
    own = type_templates.template_of(session, itype.id)
    if own is not None and own.sections == desired:
        return []
    before = list(own.sections) if own is not None else None
    type_templates.set_template(session, itype.id, desired, by=None)
    if before is None:
        return [f"create postmortem template of {itype.name!r} ({len(desired)} sections)"]
    return [
        f"update postmortem template of {itype.name!r}: " + "; ".join(_changes(before, desired))
    ]
