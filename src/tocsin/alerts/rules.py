"""Matching events against rules: routing, suppression, grouping fields; severity mapping.

A matcher is `{"field": "labels.team", "op": "equals", "value": "db"}`. Fields name parts of the
normalized event: summary, severity, source, dedup_key, action, group_key, details.<path>, and
the shortcuts labels.<name> / annotations.<name> for Alertmanager and Grafana alerts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tocsin import validation as v
from tocsin.alerts.models import MaintenanceWindow
from tocsin.alerts.pagerduty import SEVERITIES, ParsedEvent
from tocsin.errors import ValidationFailed

OPS = ("equals", "not_equals", "contains", "matches", "exists", "absent")
TOP_FIELDS = ("summary", "severity", "source", "dedup_key", "action", "group_key")
# Event severity → incident severity and urgency, unless a service says otherwise.
DEFAULT_SEVERITY_MAP = {"critical": "SEV1", "error": "SEV2", "warning": "SEV3", "info": "SEV4"}
DEFAULT_URGENCY_MAP = {"critical": "high", "error": "high", "warning": "low", "info": "low"}


@functools.lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(value)


def field_value(event: ParsedEvent, field: str) -> Any:
    """The value a matcher or grouping field names, or None when the event has none."""
    if field in TOP_FIELDS:
        return getattr(event, field)
    head, _, rest = field.partition(".")
    if head in ("labels", "annotations"):
        node: Any = event.details.get(head)
        path = rest
    elif head == "details":
        node = event.details
        path = rest
    else:
        return None
    for part in path.split(".") if path else []:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def matches(event: ParsedEvent, matchers: list[dict[str, Any]]) -> bool:
    """True when every matcher holds (an empty list matches everything)."""
    for matcher in matchers:
        value = field_value(event, matcher["field"])
        op = matcher.get("op", "equals")
        want = str(matcher.get("value", ""))
        if op == "exists":
            ok = value is not None
        elif op == "absent":
            ok = value is None
        elif value is None:
            ok = op == "not_equals"
        elif op == "equals":
            ok = _as_text(value) == want
        elif op == "not_equals":
            ok = _as_text(value) != want
        elif op == "contains":
            ok = want.lower() in _as_text(value).lower()
        else:  # matches
            ok = _pattern(want).search(_as_text(value)) is not None
        if not ok:
            return False
    return True


def check_field(field: Any, name: str) -> str:
    text = v.text(field, name, max_len=255, required=True)
    head = text.partition(".")[0]
    if text not in TOP_FIELDS and head not in ("details", "labels", "annotations"):
        raise ValidationFailed(
            f"{name} must be one of {', '.join(TOP_FIELDS)} or start with details., labels. "
            f"or annotations. (got {text!r})",
            field=name,
        )
    return text


def check_matchers(value: Any, name: str = "matchers") -> list[dict[str, str]]:
    """Validate a list of matchers as given by a person; returns the cleaned list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"{name} must be a list of matchers", field=name)
    if len(value) > 20:
        raise ValidationFailed(f"{name}: at most 20 matchers", field=name)
    out = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, dict):
            raise ValidationFailed(f"{where} must be an object with field, op, value", field=name)
        unknown = set(item) - {"field", "op", "value"}
        if unknown:
            raise ValidationFailed(f"{where}: unknown keys {sorted(unknown)}", field=name)
        field = check_field(item.get("field"), f"{where}.field")
        op = v.one_of(item.get("op", "equals"), f"{where}.op", OPS)
        raw = item.get("value", "")
        if op not in ("exists", "absent") and not isinstance(raw, str | int | float | bool):
            raise ValidationFailed(f"{where}.value must be text", field=name)
        want = v.text(str(raw), f"{where}.value", max_len=512)
        if op == "matches":
            try:
                _pattern(want)
            except re.error as exc:
                raise ValidationFailed(
                    f"{where}.value is not a valid regular expression: {exc}", field=name
                ) from exc
        out.append({"field": field, "op": op, "value": want})
    return out


def check_severity_map(value: Any, name: str, allowed: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{name} must map event severities to values", field=name)
    out = {}
    for key, target in value.items():
        v.one_of(key, f"{name} key", SEVERITIES)
        out[key] = v.one_of(target, f"{name}.{key}", allowed)
    return out


def grouping_key(mode: str, event: ParsedEvent, fields: list[str]) -> str:
    """What alerts are grouped by under this mode (fits the 255-character column)."""
    if mode == "fields":
        values = [_as_text(field_value(event, field)) for field in fields]
        basis = "f:" + json.dumps(values)
    elif mode == "dedup_key" or not event.group_key:
        basis = "d:" + (event.dedup_key or "")
    else:  # auto or alert_group, with a group
        basis = "g:" + event.group_key
    return basis[:2] + hashlib.sha256(basis.encode()).hexdigest()


def holding_window(windows: Iterable[MaintenanceWindow], at: datetime) -> MaintenanceWindow | None:
    """The maintenance window that holds a trigger received at `at` (it pages nobody), if any.
    The applier asks it of every trigger; a dry run of paging asks it too."""
    return next((w for w in windows if w.starts_at <= at < w.ends_at), None)
