"""The workflow editor's form, driven by the action models: each kind of `actions.Action` and
its fields (a reference, a choice, a number, yes/no, text) are read from the pydantic union,
so a kind or field added there appears in the editor without editing it.

A form is read into a `Draft` (what was typed, as text, so a refused form is shown again as
it was), changed by the editor's buttons (add, remove, move an action), and turned into the
service's data on save. Names posted: `name`, `trigger`, `trigger_minutes`, `trigger_field`,
`enabled`, `c.<condition>`, `action_count`, `a<i>.kind` and `a<i>.<field>`."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from starlette.datastructures import FormData

from tocsin.errors import ValidationFailed
from tocsin.validation import digits
from tocsin.workflows.actions import MAX_ACTIONS, Action
from tocsin.workflows.models import Workflow
from tocsin.workflows.references import REFERENCES
from tocsin.workflows.triggers import TIMERS, Conditions

NAMED_CONDITIONS = ("types", "severities", "priorities", "services", "teams")
TEXTAREA_FROM = 300  # a text field longer than this is a text area


@dataclass(frozen=True)
class FieldSpec:
    """One field of an action kind, and how the editor shows it."""

    name: str
    widget: Literal["reference", "choice", "number", "checkbox", "text", "textarea", "json"]
    required: bool
    options: tuple[str, ...] = ()
    default: Any = None

    @property
    def label(self) -> str:
        return self.name.removesuffix("_id").replace("_", " ").capitalize()


@dataclass(frozen=True)
class KindSpec:
    kind: str
    doc: str
    fields: tuple[FieldSpec, ...]

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ").capitalize()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `Annotated[...]` and `| None`, and whether None was allowed."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def _max_length(info: Any) -> int | None:
    for item in info.metadata:
        if getattr(item, "max_length", None) is not None:
            return int(item.max_length)
    return None


def _field(name: str, info: Any) -> FieldSpec:
    annotation, _optional = _unwrap(info.annotation)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    if name in REFERENCES:
        return FieldSpec(name, "reference", required, default=default)
    if typing.get_origin(annotation) is Literal:
        options = tuple(str(o) for o in typing.get_args(annotation))
        return FieldSpec(name, "choice", required, options, default)
    if annotation is bool:
        return FieldSpec(name, "checkbox", required, default=default)
    if annotation is int:
        return FieldSpec(name, "number", required, default=default)
    if annotation is str:
        long = (_max_length(info) or 0) > TEXTAREA_FROM
        return FieldSpec(name, "textarea" if long else "text", required, default=default)
    return FieldSpec(name, "json", required, default=default)


def _kinds() -> dict[str, KindSpec]:
    union = typing.get_args(Action)[0]
    out = {}
    for model in typing.get_args(union):
        assert issubclass(model, BaseModel)
        kind = typing.get_args(model.model_fields["kind"].annotation)[0]
        # The model's docstring, first paragraph, as help: without its code quotes.
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").replace("`", "")
        fields = tuple(_field(n, f) for n, f in model.model_fields.items() if n != "kind")
        out[kind] = KindSpec(kind, doc, fields)
    return out


KINDS: dict[str, KindSpec] = _kinds()


def show_json(value: Any) -> str:
    """A free value (a custom field's) as typed in the form: text as it is, unless it would
    read back as something else (`"123"` quoted), anything else as JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value)


def read_json(text: str) -> Any:
    """What `show_json` wrote: JSON when it is (numbers, true, null, "quoted"), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class Draft:
    """A workflow as the form shows it: every value as typed."""

    name: str = ""
    trigger: str = "declared"
    trigger_minutes: str = ""
    trigger_field: str = ""
    enabled: bool = True
    conditions: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_timer(self) -> bool:
        return self.trigger in {t.value for t in TIMERS}


def _shown(spec: FieldSpec, value: Any) -> Any:
    if spec.widget == "checkbox":
        return bool(value)
    if spec.widget == "json":
        return "" if value is None else show_json(value)
    return "" if value is None else str(value)


def from_workflow(workflow: Workflow) -> Draft:
    c = Conditions.model_validate(workflow.conditions or {})
    actions = []
    for stored in workflow.actions:
        kind = KINDS.get(str(stored.get("kind")))
        row: dict[str, Any] = {"kind": stored.get("kind")}
        for spec in kind.fields if kind else ():
            row[spec.name] = _shown(spec, stored.get(spec.name))
        actions.append(row)
    return Draft(
        name=workflow.name,
        trigger=workflow.trigger,
        trigger_minutes=str(workflow.trigger_minutes or ""),
        trigger_field=workflow.trigger_field,
        enabled=workflow.enabled,
        conditions=_conditions_shown(c),
        actions=actions,
    )


def _conditions_shown(c: Conditions) -> dict[str, Any]:
    shown: dict[str, Any] = {n: list(getattr(c, n)) for n in NAMED_CONDITIONS}
    shown["fields"] = "\n".join(f"{k} = {show_json(v)}" for k, v in c.fields.items())
    shown["drill"], shown["restricted"] = c.drill, c.restricted
    return shown


def blank() -> Draft:
    return Draft(conditions=_conditions_shown(Conditions()))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def from_form(form: FormData) -> Draft:
    """What was posted, as typed (nothing is refused here)."""
    conditions: dict[str, Any] = {
        n: [x for x in form.getlist(f"c.{n}") if isinstance(x, str) and x] for n in NAMED_CONDITIONS
    }
    conditions["fields"] = _text(form, "c.fields")
    conditions["drill"] = _text(form, "c.drill") or "no"
    conditions["restricted"] = _text(form, "c.restricted") or "any"
    count = digits(_text(form, "action_count").strip(), max_digits=3) or 0
    actions = []
    for i in range(min(count, MAX_ACTIONS)):
        kind = KINDS.get(_text(form, f"a{i}.kind"))
        if kind is None:
            continue
        row: dict[str, Any] = {"kind": kind.kind}
        for spec in kind.fields:
            raw = _text(form, f"a{i}.{spec.name}")
            row[spec.name] = raw in ("on", "true", "1") if spec.widget == "checkbox" else raw
        actions.append(row)
    return Draft(
        name=_text(form, "name"),
        trigger=_text(form, "trigger"),
        trigger_minutes=_text(form, "trigger_minutes"),
        trigger_field=_text(form, "trigger_field"),
        enabled=_text(form, "enabled") in ("on", "true", "1"),
        conditions=conditions,
        actions=actions,
    )


def change(draft: Draft, op: str, new_kind: str) -> bool:
    """Apply an editor button (`add`, `remove-2`, `up-2`, `down-2`) to the draft's actions;
    False for `save` (or anything else)."""
    rows = draft.actions
    if op == "add":
        kind = KINDS.get(new_kind)
        if kind is None:
            raise ValidationFailed("choose the kind of action to add", field="new_kind")
        if len(rows) >= MAX_ACTIONS:
            raise ValidationFailed(f"at most {MAX_ACTIONS} actions", field="actions")
        row: dict[str, Any] = {"kind": kind.kind}
        row.update({s.name: _shown(s, s.default) for s in kind.fields})
        rows.append(row)
        return True
    verb, _, index = op.partition("-")
    i = digits(index, max_digits=3)
    if verb not in ("remove", "up", "down") or i is None or i >= len(rows):
        return False
    if verb == "remove":
        del rows[i]
    elif verb == "up" and i > 0:
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif verb == "down" and i + 1 < len(rows):
        rows[i + 1], rows[i] = rows[i], rows[i + 1]
    return True


def _action_data(row: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[row["kind"]]
    data: dict[str, Any] = {"kind": kind.kind}
    for spec in kind.fields:
        value = row.get(spec.name)
        if spec.widget == "checkbox":
            data[spec.name] = bool(value)
            continue
        text = str(value or "")
        if spec.widget != "textarea":
            text = text.strip()
        if text == "" and not spec.required:
            continue  # the model's default
        data[spec.name] = read_json(text) if spec.widget == "json" else text
    return data


def _fields(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(
                f"conditions.fields: line {number} is not “key = value”", field="conditions.fields"
            )
        out[key.strip()] = read_json(value.strip())
    return out


def service_data(draft: Draft) -> dict[str, Any]:
    """The draft as `service.create`/`edit` take it (they validate it, naming the field)."""
    c = draft.conditions
    conditions: dict[str, Any] = {n: list(c.get(n) or []) for n in NAMED_CONDITIONS}
    conditions["fields"] = _fields(str(c.get("fields") or ""))
    conditions["drill"] = c.get("drill") or "no"
    conditions["restricted"] = c.get("restricted") or "any"
    minutes_text = draft.trigger_minutes.strip()
    minutes: int | str | None = digits(minutes_text, max_digits=6) if minutes_text else None
    if draft.is_timer and minutes is None:
        minutes = minutes_text or None  # refused by the service, naming trigger_minutes
    return {
        "name": draft.name.strip(),
        "trigger": draft.trigger,
        "trigger_minutes": minutes if draft.is_timer else None,
        "trigger_field": draft.trigger_field.strip() if draft.trigger == "field_changed" else "",
        "enabled": draft.enabled,
        "conditions": conditions,
        "actions": [_action_data(row) for row in draft.actions],
    }
