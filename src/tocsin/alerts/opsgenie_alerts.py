"""Reading alerts through the Opsgenie Alert API: GET /v2/alerts/{identifier}, GET /v2/alerts
(search, sort, paging) and GET /v2/alerts/count, with Opsgenie's response shapes.

A key reads the alerts of its own integration only. `query` takes a subset of Opsgenie's
search syntax, run in the database (never by loading every alert):

- terms joined by white space or `AND`, each optionally preceded by `NOT`;
- `field:value` (contains, any case; exact for flags and ids), `field=value` (exact), and
  `>`, `>=`, `<`, `<=` for `count` and the times (epoch milliseconds, as Opsgenie takes them);
- fields: status (open, closed), acknowledged, isSeen, snoozed (true, false), alias, id,
  message, description, source, entity, priority, tag (or tags), count, createdAt, updatedAt,
  lastOccurredAt; a value may be quoted ("disk full");
- a word on its own matches message, description, alias, source, entity or tags.

OR and parentheses are refused with a 422 that says so, as is any other field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, AlertStatus
from tocsin.alerts.opsgenie import (
    PRIORITY_SEVERITY,
    RESPONDER_TYPES,
    SEVERITY_PRIORITY,
    OpsgenieInvalid,
)

LIMIT_DEFAULT, LIMIT_MAX = 20, 100
OFFSET_MAX = 20000  # Opsgenie's own cap on offset
QUERY_MAX = 1000
# Opsgenie sort field -> what it sorts by here.
SORTS = {
    "createdAt": Alert.created_at,
    "updatedAt": Alert.last_event_at,
    "lastOccurredAt": Alert.last_event_at,
    "tinyId": Alert.id,
    "alias": Alert.dedup_key,
    "message": Alert.summary,
    "status": Alert.status,
    "count": Alert.event_count,
    "source": Alert.source,
}
_TIMES = {
    "createdat": Alert.created_at,
    "updatedat": Alert.last_event_at,
    "lastoccurredat": Alert.last_event_at,
}
_TEXT = {"message", "description", "source", "entity", "alias"}
_FLAGS = {"acknowledged", "isseen", "snoozed"}
FIELDS = (
    "status, acknowledged, isSeen, snoozed, alias, id, message, description, source, entity, "
    "priority, tag, count, createdAt, updatedAt, lastOccurredAt"
)
_TOKEN = re.compile(
    r"""\s*(?:(?P<lparen>\()|(?P<rparen>\))|
    (?P<field>[A-Za-z][A-Za-z.]*)\s*(?P<op>>=|<=|[:=<>])\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s()]+)|
    (?P<word>"(?:[^"\\]|\\.)*"|[^\s()]+))""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Term:
    field: str  # lower case; "" for a word on its own
    op: str
    value: str
    negated: bool = False


@dataclass
class Search:
    """What GET /v2/alerts (or /count) asked for, checked."""

    terms: list[Term] = field(default_factory=list)
    sort: str = "createdAt"
    descending: bool = True
    limit: int = LIMIT_DEFAULT
    offset: int = 0


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_query(query: str | None) -> list[Term]:
    """The terms of an Opsgenie search query; raises OpsgenieInvalid (422) for what Tocsin
    does not search by."""
    text = (query or "").strip()
    if len(text) > QUERY_MAX:
        raise OpsgenieInvalid({"query": f"can be at most {QUERY_MAX} characters"})
    terms: list[Term] = []
    negate = False
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise OpsgenieInvalid({"query": f"can not read it from {text[position:][:20]!r}"})
        position = found.end()
        if found["lparen"] or found["rparen"]:
            raise OpsgenieInvalid({"query": "parentheses are not supported by Tocsin's search"})
        word = found["word"]
        if word is not None and word.upper() in ("AND", "OR", "NOT"):
            if word.upper() == "OR":
                raise OpsgenieInvalid({"query": "OR is not supported by Tocsin's search"})
            negate = word.upper() == "NOT"
            continue
        if word is not None:
            terms.append(Term("", ":", _unquote(word), negate))
        else:
            terms.append(_field_term(found["field"], found["op"], _unquote(found["value"]), negate))
        negate = False
    if negate:
        raise OpsgenieInvalid({"query": "NOT needs a term after it"})
    return terms


def _field_term(name: str, op: str, value: str, negated: bool) -> Term:
    key = name.lower()
    if key == "tags":
        key = "tag"
    if key == "alertid":
        key = "id"
    known = _TEXT | _FLAGS | {"status", "id", "priority", "tag", "count"} | set(_TIMES)
    if key not in known:
        raise OpsgenieInvalid({"query": f"can not search by {name!r}; fields: {FIELDS}"})
    ordered = key == "count" or key in _TIMES
    if op in ("<", ">", "<=", ">=") and not ordered:
        raise OpsgenieInvalid({"query": f"{name} takes : or =, not {op}"})
    if key == "status" and value.lower() not in ("open", "closed"):
        raise OpsgenieInvalid({"query": "status is open or closed"})
    if key in _FLAGS and value.lower() not in ("true", "false"):
        raise OpsgenieInvalid({"query": f"{name} is true or false"})
    if key == "priority" and value.upper() not in PRIORITY_SEVERITY:
        raise OpsgenieInvalid({"query": "priority is one of P1, P2, P3, P4, P5"})
    if (ordered or key == "id") and not (value.isascii() and value.isdigit() and len(value) < 19):
        unit = " (epoch milliseconds)" if key in _TIMES else ""
        raise OpsgenieInvalid({"query": f"{name} takes a whole number{unit}"})
    return Term(key, op, value, negated)


def parse_search(params: dict[str, str]) -> Search:
    """GET /v2/alerts query parameters: query, limit, offset, sort, order (searchIdentifier,
    a saved search, is refused). Raises OpsgenieInvalid listing every bad parameter."""
    fields: dict[str, str] = {}
    search = Search()
    if params.get("searchIdentifier"):
        fields["searchIdentifier"] = "saved searches are not supported by Tocsin; use query"
    try:
        search.terms = parse_query(params.get("query"))
    except OpsgenieInvalid as exc:
        fields.update(exc.fields)
    search.limit = _number(params, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, fields)
    search.offset = _number(params, "offset", 0, 0, OFFSET_MAX, fields)
    sort = params.get("sort") or "createdAt"
    if sort not in SORTS:
        fields["sort"] = f"should be one of [ {', '.join(SORTS)} ]"
    search.sort = sort
    order = (params.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        fields["order"] = "should be one of [ asc, desc ]"
    search.descending = order != "asc"
    if fields:
        raise OpsgenieInvalid(fields)
    return search


def _number(
    params: dict[str, str], name: str, default: int, low: int, high: int, fields: dict[str, str]
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        fields[name] = f"should be a whole number from {low} to {high}"
        return default
    return int(raw)


# --- the search, in SQL --------------------------------------------------------------------


def _detail(name: str) -> ColumnElement[str]:
    """A string among an Opsgenie alert's details (what parse_create kept), or NULL."""
    return Alert.details[name].as_string()


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    return func.coalesce(column, "").icontains(value, autoescape=True)


def _tag(value: str) -> ColumnElement[bool]:
    # The tags are a JSON list of strings; look for the JSON string itself in its text.
    text = func.coalesce(cast(Alert.details["tags"], String), "")
    needles = {json.dumps(value), json.dumps(value, ensure_ascii=False)}
    return or_(*(text.contains(n, autoescape=True) for n in needles))


def _priority(value: str) -> ColumnElement[bool]:
    value = value.upper()
    own = _detail("priority")
    severity = PRIORITY_SEVERITY[value]
    shown_as = SEVERITY_PRIORITY[severity] == value  # an alert without one shows this one
    fallback = and_(own.is_(None), Alert.severity == severity) if shown_as else false()
    return or_(own == value, fallback)


def _flag(name: str, wanted: bool) -> ColumnElement[bool]:
    if name == "snoozed":
        return false() if wanted else true()
    # isSeen: someone has acknowledged it (Tocsin does not record who only looked).
    seen = Alert.acknowledged_at.is_not(None)
    return seen if wanted else not_(seen)


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    return column == value


def _condition(term: Term) -> ColumnElement[bool]:
    name, value, exact = term.field, term.value, term.op == "="
    if name == "":
        texts = [Alert.summary, _detail("description"), Alert.dedup_key, Alert.source]
        condition: ColumnElement[bool] = or_(
            *(_contains(t, value) for t in [*texts, _detail("entity")]), _tag(value)
        )
    elif name == "status":
        resolved = Alert.status == AlertStatus.resolved.value
        condition = resolved if value.lower() == "closed" else not_(resolved)
    elif name in _FLAGS:
        condition = _flag(name, value.lower() == "true")
    elif name == "id":
        condition = Alert.id == int(value)
    elif name == "count":
        condition = _compare(Alert.event_count, term.op, int(value))
    elif name in _TIMES:
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        condition = _compare(_TIMES[name], term.op, moment)
    elif name == "priority":
        condition = _priority(value)
    elif name == "tag":
        condition = _tag(value)
    else:
        column = {
            "message": Alert.summary,
            "source": Alert.source,
            "alias": Alert.dedup_key,
            "description": _detail("description"),
            "entity": _detail("entity"),
        }[name]
        condition = column == value if exact or name == "alias" else _contains(column, value)
    return not_(condition) if term.negated else condition


def search_alerts(session: Session, integration_id: int, search: Search) -> tuple[list[Alert], int]:
    """One page of the integration's alerts matching the search, and how many match."""
    conditions = [Alert.integration_id == integration_id, *map(_condition, search.terms)]
    total = session.scalar(select(func.count(Alert.id)).where(*conditions)) or 0
    column = SORTS[search.sort]
    order = column.desc() if search.descending else column.asc()
    tie = Alert.id.desc() if search.descending else Alert.id.asc()
    page = session.scalars(
        select(Alert)
        .where(*conditions)
        .order_by(order, tie)
        .offset(search.offset)
        .limit(search.limit)
    ).all()
    return list(page), int(total)


def count_alerts(session: Session, integration_id: int, terms: list[Term]) -> int:
    conditions = [Alert.integration_id == integration_id, *map(_condition, terms)]
    return int(session.scalar(select(func.count(Alert.id)).where(*conditions)) or 0)


# --- Opsgenie's shapes ---------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else max(0, int((end - start).total_seconds() * 1000))


def alert_body(alert: Alert, integration_name: str, *, full: bool) -> dict[str, Any]:
    """An alert as Opsgenie shows it: the list's fields, and with `full` (GET one alert)
    also actions, entity, description and details. Opsgenie's extras of an alert (tags,
    entity, description, details) are what its create request kept among Tocsin's details."""
    kept = alert.details if isinstance(alert.details, dict) else {}
    priority = kept.get("priority")
    if priority not in PRIORITY_SEVERITY:
        priority = SEVERITY_PRIORITY.get(alert.severity, "P3")
    changed = max(
        [alert.last_event_at, *(t for t in (alert.acknowledged_at, alert.resolved_at) if t)]
    )
    report: dict[str, Any] = {}
    if (ack := _ms(alert.created_at, alert.acknowledged_at)) is not None:
        report["ackTime"] = ack
    if (close := _ms(alert.created_at, alert.resolved_at)) is not None:
        report["closeTime"] = close
    responders = [
        {"type": r["type"], "id": r["id"]}
        for r in kept.get("responders") or []
        if isinstance(r, dict) and r.get("type") in RESPONDER_TYPES and r.get("id")
    ]
    body: dict[str, Any] = {
        "id": str(alert.id),
        "alias": kept.get("alias") or alert.dedup_key,
        "message": alert.summary,
        "status": "closed" if alert.status == AlertStatus.resolved.value else "open",
        "acknowledged": alert.acknowledged_at is not None,
        "isSeen": alert.acknowledged_at is not None,
        "tags": [t for t in kept.get("tags") or [] if isinstance(t, str)],
        "snoozed": False,
        "count": alert.event_count,
        "lastOccurredAt": _iso(alert.last_event_at),
        "createdAt": _iso(alert.created_at),
        "updatedAt": _iso(changed),
        "source": alert.source,
        "owner": "",
        "priority": priority,
        "responders": responders,
        "integration": {"id": str(alert.integration_id), "name": integration_name, "type": "API"},
        "report": report,
    }
    if full:
        details = kept.get("details")
        body |= {
            "actions": [],
            "entity": kept.get("entity") or "",
            "description": kept.get("description") or "",
            "details": {
                str(k): v if isinstance(v, str) else json.dumps(v)
                for k, v in (details.items() if isinstance(details, dict) else [])
            },
        }
    return body
