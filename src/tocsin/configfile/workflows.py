"""The `workflows` section: workflows matched by name, with their trigger, conditions and
ordered actions. Files name what actions refer to (`runbook: IC checklist`, `user:
ann@example.com`, `schedule: Primary`, `role: scribe`, `severity: SEV2`), read through
`workflows.references`, so an action kind added to the engine needs nothing here. A name
that matches nothing is an error naming its path (`workflows[0].actions[1].runbook`).

A reference to something deleted since is exported by id (`runbook_id: 12`) so that
exporting and applying again changes nothing; names in conditions are checked only when
they change, for the same reason. `position` left out keeps the stored order (a new
workflow goes after the others). Workflows missing from the file are left alone (nothing
is deleted)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.config import Settings
from tocsin.configfile.alerting import NewKey
from tocsin.definitions.models import IncidentType, Priority, Severity
from tocsin.errors import ValidationFailed
from tocsin.outbound import OutboundGuard
from tocsin.workflows import service
from tocsin.workflows.actions import dump, parse_actions
from tocsin.workflows.forms import KINDS
from tocsin.workflows.models import Workflow
from tocsin.workflows.queries import next_position
from tocsin.workflows.references import REFERENCES, id_of, name_of
from tocsin.workflows.triggers import TIMERS, Conditions, Trigger

Doc = dict[str, Any]
# A condition's names → the rows they must name (as `triggers.mismatch` compares them).
_CONDITION_NAMES: dict[str, tuple[Any, str]] = {
    "types": (IncidentType, "incident type"),
    "severities": (Severity, "severity"),
    "priorities": (Priority, "priority"),
    "services": (Service, "service"),
    "teams": (Team, "team"),
}


class WorkflowDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    trigger: Trigger
    trigger_minutes: int | None = Field(default=None, description="timers: after how long")
    trigger_field: str = Field(default="", description="field_changed: which key (empty: any)")
    enabled: bool = True
    position: int | None = Field(
        default=None, description="left out: keep the stored one (a new one goes last)"
    )
    conditions: Conditions = Field(default_factory=Conditions)
    actions: list[dict[str, Any]] = Field(
        default=[], description="each `kind:` and its fields; references by name"
    )


def _file_action(session: Session, stored: dict[str, Any]) -> Doc:
    out: Doc = {}
    for key, value in stored.items():
        ref = REFERENCES.get(key)
        if ref is not None and ref.by_id and value is not None:
            name = name_of(session, key, value)
            if name is not None:
                out[ref.file_field(key)] = name
                continue
        if value is not None:
            out[key] = value
    return out


def _doc(session: Session, workflow: Workflow) -> Doc:
    doc: Doc = {"name": workflow.name, "trigger": workflow.trigger}
    if workflow.trigger_minutes is not None:
        doc["trigger_minutes"] = workflow.trigger_minutes
    if workflow.trigger_field:
        doc["trigger_field"] = workflow.trigger_field
    doc["enabled"] = workflow.enabled
    doc["position"] = workflow.position
    conditions = Conditions.model_validate(workflow.conditions or {})
    doc["conditions"] = conditions.model_dump(mode="json", exclude_defaults=True)
    doc["actions"] = [_file_action(session, a) for a in workflow.actions]
    return doc


def current(session: Session) -> dict[str, Doc]:
    """Every workflow, keyed by name, as a file writes it."""
    return {w.name: _doc(session, w) for w in service.list_workflows(session)}


def _fields(action: dict[str, Any]) -> list[str]:
    """The reference fields the action's kind has (none for an unknown kind, which the
    service refuses, naming it)."""
    kind = KINDS.get(str(action.get("kind")))
    return sorted({f.name for f in kind.fields} & set(REFERENCES)) if kind else []


def _unknown(index: int, written: str, what: str, value: object) -> ValidationFailed:
    return ValidationFailed(f"no {what} {value!r}", field=f"actions[{index}].{written}")


def _resolved(session: Session, index: int, action: dict[str, Any]) -> dict[str, Any]:
    """The file's action with the names of what is stored by id (`runbook: X`) turned into
    ids (`runbook_id: 12`); `runbook_id` itself is taken as it is."""
    out = dict(action)
    for field in _fields(action):
        ref = REFERENCES[field]
        written = ref.file_field(field)
        if not ref.by_id or written not in out:
            continue
        if field in out:
            raise ValidationFailed(
                f"give {written} or {field}, not both", field=f"actions[{index}].{written}"
            )
        value = out.pop(written)
        found = id_of(session, field, value) if isinstance(value, str) else None
        if found is None:
            raise _unknown(index, written, ref.what, value)
        out[field] = found
    return out


def _check_named(session: Session, index: int, action: dict[str, Any]) -> None:
    """What is stored by name (a role's slug, a severity) must exist."""
    for field in _fields(action):
        ref = REFERENCES[field]
        value = action.get(field)
        if ref.by_id or value is None:
            continue
        if not isinstance(value, str) or id_of(session, field, value) is None:
            raise _unknown(index, field, ref.what, value)


def _check_names(session: Session, conditions: Conditions) -> None:
    for field, (model, what) in _CONDITION_NAMES.items():
        for name in getattr(conditions, field):
            if session.scalar(select(model.id).where(model.name == name)) is None:
                raise ValidationFailed(f"no {what} named {name!r}", field=f"conditions.{field}")


def _data(session: Session, doc: Doc, have: Workflow | None) -> Doc:
    conditions = Conditions.model_validate(doc.get("conditions") or {})
    stored_conditions = conditions.model_dump(mode="json")
    if have is None or stored_conditions != have.conditions:
        _check_names(session, conditions)
    raw = [_resolved(session, i, a) for i, a in enumerate(doc.get("actions") or [])]
    actions = dump(parse_actions(raw))
    if have is None or actions != have.actions:
        for index, action in enumerate(raw):
            _check_named(session, index, action)
    trigger = Trigger(doc["trigger"])
    data: Doc = {
        "name": doc["name"],
        "trigger": trigger.value,
        "trigger_minutes": doc.get("trigger_minutes") if trigger in TIMERS else None,
        "trigger_field": doc.get("trigger_field") or "",
        "enabled": doc.get("enabled", True),
        "conditions": stored_conditions,
        "actions": actions,
    }
    if doc.get("position") is not None:
        data["position"] = doc["position"]
    return data


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the workflow named `name` match the document."""
    found = session.scalar(select(Workflow).where(func.lower(Workflow.name) == name.lower()))
    data = _data(session, doc, found)
    # `tocsin apply` runs in the CLI, whose settings come from the environment (TOCSIN_*):
    # they decide which hosts the outbound guard allows, as for webhooks.
    guard = OutboundGuard.from_settings(Settings())
    if found is None:
        data.setdefault("position", next_position(session))
        service.create(session, by=None, guard=guard, **data)
        return [f"create workflow {name!r}"]
    have = {
        "name": found.name,
        "trigger": found.trigger,
        "trigger_minutes": found.trigger_minutes,
        "trigger_field": found.trigger_field,
        "enabled": found.enabled,
        "conditions": found.conditions,
        "actions": found.actions,
        "position": found.position,
    }
    changes = {k: v for k, v in data.items() if v != have[k]}
    if not changes:
        return []
    service.edit(session, found, changes, guard=guard)
    return [f"update workflow {found.name!r}: {', '.join(sorted(changes))}"]
