"""Generic JSON webhooks: a per-integration mapping of JMESPath expressions turns any JSON body
(Zabbix, Datadog, a cron script…) into one Tocsin event."""

from __future__ import annotations

import collections.abc
import hashlib
import json
from functools import lru_cache
from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from tocsin.alerts.alertmanager import SEVERITY_WORDS as _LABEL_SEVERITIES
from tocsin.alerts.pagerduty import DEDUP_MAX, SUMMARY_MAX, ParsedEvent

Severity = Literal["critical", "error", "warning", "info"]
Action = Literal["trigger", "acknowledge", "resolve"]

# The fields holding JMESPath expressions; group_key joins events into one incident.
EXPRESSIONS = (
    "summary",
    "dedup_key",
    "severity",
    "action",
    "source",
    "details",
    "links",
    "group_key",
)
# Used when a mapping has no severity_map: the words senders commonly put in a severity field.
SEVERITY_WORDS: dict[str, str] = {
    **_LABEL_SEVERITIES,
    **dict.fromkeys(["crit", "fatal", "disaster", "emergency"], "critical"),
    "err": "error",
    "medium": "warning",
    **dict.fromkeys(["ok", "information", "informational", "notice", "debug"], "info"),
}
# Used when a mapping has no action_map; anything else triggers.
ACTION_WORDS: dict[str, str] = {
    **dict.fromkeys(["resolve", "resolved", "ok", "closed", "close", "up"], "resolve"),
    **dict.fromkeys(["recovered", "recovery", "cleared"], "resolve"),
    **dict.fromkeys(["acknowledge", "acknowledged", "ack", "acked"], "acknowledge"),
}
UNREADABLE_PREVIEW = 200
MAX_LINKS = 20


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> ParsedResult:
    # Cached by text rather than stored on the model, so a model_copy(update=…) can't go stale.
    return jmespath.compile(expression)


def _syntax_problem(exc: Exception) -> str:
    """One line out of jmespath's multi-line message (which repeats the expression and a caret)."""
    if isinstance(exc, RecursionError):
        return "the expression is nested too deeply"
    first = str(exc).splitlines()[0].rstrip(": ").removesuffix(", for expression")
    for prefix in ("Invalid jmespath expression: ", "Bad jmespath expression: "):
        first = first.removeprefix(prefix)
    column = getattr(exc, "lex_position", getattr(exc, "lexer_position", None))
    return f"{first} at column {column}" if "column" not in first and column is not None else first


def _check_functions(node: dict[str, Any]) -> str | None:
    """The first unknown function or wrong arity, which jmespath only finds when evaluating (so a
    typo would otherwise make every body unreadable)."""
    if node.get("type") == "function_expression":
        name, count = node["value"], len(node["children"])
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            return f"unknown function {name}()"
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if count < len(signature) or (count > len(signature) and not variadic):
            return f"{name}() takes {len(signature)} argument(s), got {count}"
    children = (child for child in node.get("children", []) if isinstance(child, dict))
    return next(filter(None, map(_check_functions, children)), None)


class Mapping(BaseModel):
    """How one generic webhook integration reads its bodies: JMESPath expressions and value maps.

    Blank optional expressions mean "not mapped"; `details` None means no details. Map keys are
    the sender's values, compared case-insensitively as strings. With a map, unmapped values
    get `default_severity` / trigger; without one, SEVERITY_WORDS / ACTION_WORDS apply.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str
    dedup_key: str | None = None
    severity: str | None = None
    action: str | None = None
    source: str | None = None
    details: str | None = "@"
    links: str | None = None
    group_key: str | None = None
    severity_map: dict[str, Severity] | None = None
    default_severity: Severity = "error"
    action_map: dict[str, Action] | None = None

    @field_validator(*EXPRESSIONS)
    @classmethod
    def _compiles(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            if info.field_name == "summary":
                raise ValueError("summary: a JMESPath expression is required")
            return None
        try:
            problem = _check_functions(_compiled(value).parsed)
        except (JMESPathError, RecursionError) as exc:
            problem = _syntax_problem(exc)
        if problem:
            raise ValueError(
                f"{info.field_name}: invalid JMESPath expression {value[:200]!r}: {problem}"
            )
        return value

    @field_validator("severity_map", "action_map", "default_severity", mode="before")
    @classmethod
    def _lowercase(cls, value: Any, info: ValidationInfo) -> Any:
        def low(item: Any) -> Any:
            return item.strip().lower() if isinstance(item, str) else item

        if not isinstance(value, dict):
            return low(value)
        out: dict[Any, Any] = {}
        for key, target in value.items():
            key = low(str(key))
            if key in out and out[key] != low(target):
                raise ValueError(f"{info.field_name}: {key!r} is mapped twice, differently")
            out[key] = low(target)
        return out


DEFAULT_MAPPING = Mapping(
    summary="summary || title || message || text || name",
    dedup_key="dedup_key || id || alias || fingerprint",
    severity="severity || level || priority",
    action="status || state || action || event_action",
    source="source || host || hostname || service",
    details="@",
    links="links || url || link",
)


class _Unreadable(Exception):
    """The mapping does not fit this body; the message is the reason shown to people."""


_KINDS = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string"}
_KINDS |= {list: "list", dict: "object"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), "value")


def _clean(text: str) -> str:
    # JSON allows lone surrogates ("\ud800"), which no database text column accepts.
    return text.encode("utf-8", "replace").decode("utf-8")


def _compact(value: Any, *, sort_keys: bool = False) -> str:
    try:
        text = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, default=str
        )
    except (TypeError, ValueError, RecursionError):
        return f"<unprintable {_kind(value)}>"
    return _clean(text)


def _text(value: Any, *, sort_keys: bool = False) -> str | None:
    """A result as text: None for nothing usable (null, blank, false, [] or {}, as for `||`)."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return None
    if value is True:
        return "true"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 5.0 and 5 are the same severity, key or summary
    text = _clean(value) if isinstance(value, str) else _compact(value, sort_keys=sort_keys)
    return text.strip() or None


def _dedup(value: Any) -> str | None:
    # Sorted keys: an object-valued key must not change with the sender's key order.
    key = _text(value, sort_keys=True)
    if key is None or len(key) <= DEDUP_MAX:
        return key
    # Truncating would merge distinct long keys; a digest stays unique and stable.
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _link(item: Any, text: Any = None) -> dict[str, str] | None:
    if isinstance(item, dict):
        item, text = item.get("href") or item.get("url"), item.get("text")
    # Only web addresses: a javascript: or data: href would run in the browser of whoever clicks.
    if not isinstance(item, str) or not item.startswith(("http://", "https://")):
        return None
    label = text if isinstance(text, str) and text.strip() else item
    return {"href": _clean(item)[:2048], "text": _clean(label)[:255]}


def _links(value: Any) -> list[dict[str, str]]:
    if isinstance(value, dict) and not ({"href", "url"} & value.keys()):
        pairs = [(url, name) for name, url in value.items()]  # {"dashboard": "https://…"}
    else:
        pairs = [(item, None) for item in (value if isinstance(value, list) else [value])]
    links = [link for item, text in pairs if (link := _link(item, text))]
    return links[:MAX_LINKS]


def _lookup(
    value: Any,
    table: collections.abc.Mapping[str, str] | None,
    words: collections.abc.Mapping[str, str],
    default: str,
) -> str:
    key = _text(value)
    if key is None:
        return default
    return (words if table is None else table).get(key.lower(), default)


def _search(mapping: Mapping, name: str, body: Any) -> Any:
    expression = getattr(mapping, name)
    if expression is None:
        return None
    try:
        return _compiled(expression).search(body)
    except (JMESPathError, TypeError, ValueError, RecursionError) as exc:
        raise _Unreadable(f"{name}: {str(exc).splitlines()[0] or type(exc).__name__}") from None


def _mapped(mapping: Mapping, body: Any, integration_name: str) -> ParsedEvent:
    values = {name: _search(mapping, name, body) for name in EXPRESSIONS}
    summary = _text(values["summary"])
    if summary is None:
        raise _Unreadable(f"summary {mapping.summary!r} found nothing in this {_kind(body)} body")
    details = values["details"]
    if not isinstance(details, dict):
        details = {} if details is None else {"details": details}
    group_key = _text(values["group_key"], sort_keys=True)
    return ParsedEvent(
        routing_key="",
        action=_lookup(values["action"], mapping.action_map, ACTION_WORDS, "trigger"),
        dedup_key=_dedup(values["dedup_key"]),
        summary=summary[:SUMMARY_MAX],
        severity=_lookup(
            values["severity"], mapping.severity_map, SEVERITY_WORDS, mapping.default_severity
        ),
        source=(_text(values["source"]) or integration_name)[:255],
        details=details,
        links=_links(values["links"]),
        group_key=group_key[:255] if group_key else None,
    )


def apply(mapping: Mapping, body: Any, *, integration_name: str) -> tuple[ParsedEvent, bool]:
    """Map one body to an event; never raises. Returns (event, whether the mapping could read it).

    Unreadable (the summary yields nothing usable, or an expression fails on this body): a
    trigger titled "Unreadable event from <integration>: <start of the body>" with details
    {"unmapped": True, "reason": …}; the caller keeps the raw body. A resolve or acknowledge
    without a dedup key is returned as is (dedup_key None) for the caller to record as ignored:
    turning it into a trigger would page someone for a recovery.
    """
    name = integration_name.strip() or "generic webhook"
    try:
        return _mapped(mapping, body, name), True
    except _Unreadable as exc:
        reason = str(exc)
    except Exception as exc:  # a sender's body must never take ingestion down
        reason = f"mapping failed: {type(exc).__name__}"
    preview = _compact(body)
    if len(preview) > UNREADABLE_PREVIEW:
        preview = preview[:UNREADABLE_PREVIEW] + "…"
    event = ParsedEvent(
        routing_key="",
        action="trigger",
        dedup_key=None,
        summary=f"Unreadable event from {name}: {preview}"[:SUMMARY_MAX],
        severity=mapping.default_severity,
        source=name[:255],
        details={"unmapped": True, "reason": reason[:500]},
    )
    return event, False
