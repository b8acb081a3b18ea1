"""The Opsgenie Alert API v2 wire format: create, close, acknowledge and unacknowledge bodies,
updates of an alert's message, description and priority, notes, the GenieKey header, and
Opsgenie-shaped responses (an alert, a page of alerts, a count). Pure functions; the routes
call them."""

# What opsgenie-sdk 2.1.5 (python) requires, read in its source and checked against a stub:
# - Requests: `Authorization: GenieKey <key>`, `Accept: application/json`, and
#   `Content-Type: application/json` on every request, GET included. Paths are host +
#   /v2/alerts, /v2/alerts/{identifier}/close|acknowledge|unacknowledge and
#   /v2/alerts/requests/{requestId} (no query string). The identifier is percent-encoded with
#   no safe characters ("a/b" -> a%2Fb). `?identifierType=` is sent only when the caller
#   passes identifier_type. An action without a payload is a POST with an empty body.
# - Every response body, errors included, must be a JSON object: the client parses it and
#   adds a "url" key before it looks at the status; an empty or text body raises
#   JSONDecodeError instead of an API error.
# - Any status < 400 is success (202 or 200). The 202 body needs "requestId" (None raises
#   ValueError); "took" defaults to 0.0, "result" is optional.
# - Status >= 400 raises an ApiException subclass by code. 429, 500 and 502-599 are retried
#   inside the client (random exponential wait up to 30 s, up to 5 retries within 60 s; ends
#   in tenacity.RetryError). Other 4xx are not retried.
# - retrieve_result() GETs requests/{id} and reads data.isSuccess only: false means "not done
#   yet" and it polls again after random(0, 0.2 * 2**n) s, up to short_polling_max_retries
#   (10) more times, then returns the last answer without raising. A 404 is not retried: it
#   raises ApiException at once. A body without "data" raises AttributeError. The alert id is
#   data.alertId (a string); processedAt is parsed with dateutil.

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tocsin.alerts.pagerduty import DEDUP_MAX, SUMMARY_MAX, EventInvalid, ParsedEvent
from tocsin.validation import digits

MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15000
TAGS_MAX, TAG_MAX = 20, 50
DETAILS_MAX = 8000
ENTITY_MAX = 512
SOURCE_MAX = 100
USER_MAX = 100
NOTE_MAX = 25000
RECIPIENTS_MAX = 50
ACTIONS_MAX = 10
PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
VISIBLE_TO_TYPES = ("team", "user")
# URL action name -> ParsedEvent.action.
ACTIONS = {"close": "resolve", "acknowledge": "acknowledge", "unacknowledge": "unacknowledge"}
# PUT /v2/alerts/{identifier}/{field}: the fields a sender may change, and their limits.
UPDATES = {"message": MESSAGE_MAX, "description": DESCRIPTION_MAX, "priority": 2}
NOTE = "note"  # POST /v2/alerts/{identifier}/notes becomes a ParsedEvent with this action
# ParsedEvent.action -> the request-status action name and its success text.
REQUEST_ACTIONS = {
    "trigger": ("Create", "Created alert"),
    "resolve": ("Close", "Closed alert"),
    "acknowledge": ("Acknowledge", "Acknowledged alert"),
    "unacknowledge": ("UnAcknowledge", "UnAcknowledged alert"),
    "message": ("UpdateMessage", "Updated message"),
    "description": ("UpdateDescription", "Updated description"),
    "priority": ("UpdatePriority", "Updated priority"),
    NOTE: ("AddNote", "Added note"),
}
# The priority an alert without one of its own is shown with (its severity's first).
SEVERITY_PRIORITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}
# Opsgenie's own wording for a 422 and for a 401 (seen in real responses), and the internal
# code of its 403 for a valid key that may not do this (docs.opsgenie.com, Response codes).
UNPROCESSABLE = "Request body is not processable. Please check the errors."
UNAUTHENTICATED = "Could not authenticate"
FORBIDDEN_CODE = 40301
# Tocsin alert ids are BIGINT.
_ID_MAX = 2**63 - 1


class OpsgenieInvalid(EventInvalid):
    """An EventInvalid that keeps Opsgenie's {field: problem} map for the 422 `errors` object.

    Every error raised here is one; answer it with 422 and error_body(..., errors=fields)."""

    def __init__(self, fields: dict[str, str], message: str = UNPROCESSABLE) -> None:
        super().__init__([f"{name}: {problem}" for name, problem in fields.items()], message)
        self.fields = fields


def api_key(authorization_header: str | None) -> str | None:
    """The key of `Authorization: GenieKey <key>` (scheme in any case); None if absent or
    malformed."""
    parts = (authorization_header or "").split()
    if len(parts) != 2 or parts[0].lower() != "geniekey":
        return None
    return parts[1]


def dedup_key_for(alias: str) -> str:
    """The dedup key for an alias. Aliases may be 512 characters but dedup keys 255, so a
    longer alias becomes "sha256:<hex>": stable, so a repeat or a close by alias still finds
    the alert."""
    if len(alias) <= DEDUP_MAX:
        return alias
    # surrogatepass: JSON may carry lone surrogates ("\ud800"), which strict UTF-8 refuses.
    return "sha256:" + hashlib.sha256(alias.encode("utf-8", "surrogatepass")).hexdigest()


def _text(
    data: dict[str, Any], name: str, fields: dict[str, str], max_len: int, *, required: bool = False
) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            fields[name] = "can not be empty"
        return ""
    if not isinstance(value, str):
        fields[name] = "should be a string"
        return ""
    if len(value) > max_len:
        fields[name] = f"can be at most {max_len} characters"
    return value


def _source(data: dict[str, Any], fields: dict[str, str]) -> str:
    value = data.get("source")
    if value is not None and not isinstance(value, str):
        fields["source"] = "should be a string"
        return ""
    # Truncated, not refused: Alertmanager's default source is its external URL plus
    # "/#/alerts?receiver=…", often over 100 characters, and it does not shorten it.
    return (value or "").strip()[:SOURCE_MAX]


def _strings(
    value: Any, name: str, fields: dict[str, str], count: int, size: int | None = None
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        fields[name] = "should be a list of strings"
        return []
    items = list(dict.fromkeys(item.strip() for item in value if item.strip()))
    if len(items) > count:
        fields[name] = f"can have at most {count} items"
    elif size is not None and any(len(item) > size for item in items):
        fields[name] = f"items can be at most {size} characters"
    return items


def _recipients(
    value: Any, name: str, fields: dict[str, str], types: tuple[str, ...]
) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        fields[name] = "should be a list"
        return []
    if len(value) > RECIPIENTS_MAX:
        fields[name] = f"can have at most {RECIPIENTS_MAX} items"
        return []
    out = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, dict) or item.get("type") not in types:
            fields[where] = f"type should be one of [ {', '.join(types)} ]"
            continue
        named = {k: item[k] for k in ("id", "name", "username") if isinstance(item.get(k), str)}
        if not any(named.values()):
            fields[where] = "id, name or username should be provided"
            continue
        out.append({"type": item["type"], **named})
    return out


def _details(value: Any, fields: dict[str, str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fields["details"] = "should be an object of string values"
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[key] = item
        elif item is None or isinstance(item, (bool, int, float)):
            # Opsgenie's type is string -> string; a number or boolean is kept as its JSON text
            # rather than refusing the alert.
            out[key] = "" if item is None else json.dumps(item)
        else:
            fields[f"details.{key}"] = "should be a string"
    if sum(len(k) + len(v) for k, v in out.items()) > DETAILS_MAX:
        fields["details"] = f"can be at most {DETAILS_MAX} characters in total"
    return out


def _link(href: str, text: str) -> dict[str, str] | None:
    if href.startswith(("http://", "https://")) and not any(ch.isspace() for ch in href):
        return {"href": href[:2048], "text": text[:255]}
    return None


def parse_create(data: Any, *, routing_key: str = "") -> ParsedEvent:
    """Validate a POST /v2/alerts body with Opsgenie's rules and limits; raises
    OpsgenieInvalid. No alias gives dedup_key None: the caller generates one."""
    if not isinstance(data, dict):
        raise OpsgenieInvalid({"body": "should be a JSON object"})
    fields: dict[str, str] = {}
    message = _text(data, "message", fields, MESSAGE_MAX, required=True)
    alias = _text(data, "alias", fields, ALIAS_MAX)
    description = _text(data, "description", fields, DESCRIPTION_MAX)
    entity = _text(data, "entity", fields, ENTITY_MAX)
    user = _text(data, "user", fields, USER_MAX)
    note = _text(data, "note", fields, NOTE_MAX)
    source = _source(data, fields)
    # An empty priority is what a blank Alertmanager template renders: the default, P3.
    priority = data.get("priority") or "P3"
    if not isinstance(priority, str) or priority not in PRIORITY_SEVERITY:
        fields["priority"] = "should be one of [ P1, P2, P3, P4, P5 ]"
        priority = "P3"
    tags = _strings(data.get("tags"), "tags", fields, TAGS_MAX, TAG_MAX)
    _strings(data.get("actions"), "actions", fields, ACTIONS_MAX)
    responders = _recipients(data.get("responders"), "responders", fields, RESPONDER_TYPES)
    _recipients(data.get("visibleTo"), "visibleTo", fields, VISIBLE_TO_TYPES)
    details = _details(data.get("details"), fields)
    if fields:
        raise OpsgenieInvalid(fields)
    kept: dict[str, Any] = {
        "description": description,
        "details": details,
        "tags": tags,
        "entity": entity,
        "priority": data.get("priority"),
        "responders": responders,
        "user": user,
    }
    kept = {k: v for k, v in kept.items() if v}
    dedup_key = dedup_key_for(alias) if alias else None
    if alias and dedup_key != alias:
        kept["alias"] = alias
    candidates = [(str(data.get("source") or ""), "source")]
    candidates += [(v, k) for k, v in details.items()]
    links = [link for href, text in candidates if (link := _link(href, text))][:20]
    return ParsedEvent(
        routing_key=routing_key,
        action="trigger",
        dedup_key=dedup_key,
        summary=message.strip(),
        severity=PRIORITY_SEVERITY[priority],
        source=source or "opsgenie",
        details=kept,
        links=links,
        note=note,
    )


def parse_action(
    action: str,
    identifier: str,
    identifier_type: str | None,
    data: Any,
    *,
    routing_key: str = "",
) -> ParsedEvent:
    """Validate POST /v2/alerts/{identifier}/{action}?identifierType=… and its optional body
    {user, source, note}. identifierType alias targets dedup_key, id (the default) targets
    alert_id; tiny ids are refused. Raises OpsgenieInvalid."""
    fields: dict[str, str] = {}
    if action not in ACTIONS:
        fields["action"] = "should be one of [ close, acknowledge, unacknowledge ]"
    dedup_key, alert_id = _target(identifier, identifier_type, fields)
    body = _body(data, fields)
    user = _text(body, "user", fields, USER_MAX)
    note = _text(body, "note", fields, NOTE_MAX)
    source = _source(body, fields)
    if fields:
        raise OpsgenieInvalid(fields)
    return ParsedEvent(
        routing_key=routing_key,
        action=ACTIONS[action],
        dedup_key=dedup_key,
        source=source or "opsgenie",
        details={"user": user} if user else {},
        alert_id=alert_id,
        note=note,
    )


def _target(
    identifier: Any, identifier_type: str | None, fields: dict[str, str]
) -> tuple[str | None, int | None]:
    """(dedup key, alert id) named by /v2/alerts/{identifier}?identifierType=…: alias targets
    the dedup key, id (the default) Tocsin's alert id; tiny ids are refused."""
    kind = (identifier_type or "id").lower()
    dedup_key, alert_id = None, None
    if kind == "tiny":
        fields["identifierType"] = "tiny ids are not supported by Tocsin; use id or alias"
    elif kind not in ("id", "alias"):
        fields["identifierType"] = "should be one of [ id, alias ]"
    elif not isinstance(identifier, str) or not identifier.strip():
        fields["identifier"] = "can not be empty"
    elif kind == "alias":
        if len(identifier) > ALIAS_MAX:
            fields["identifier"] = f"alias can be at most {ALIAS_MAX} characters"
        dedup_key = dedup_key_for(identifier)
    else:
        alert_id = digits(identifier, max_digits=19)  # past _ID_MAX: refused below
    if kind == "id" and alert_id is None and "identifier" not in fields:
        fields["identifier"] = "Tocsin alert ids are integers; use identifierType=alias"
    if alert_id is not None and alert_id > _ID_MAX:
        fields["identifier"] = "no such alert id"
    return dedup_key, alert_id


def parse_target(identifier: Any, identifier_type: str | None) -> tuple[str | None, int | None]:
    """(dedup key, alert id) for GET /v2/alerts/{identifier}; raises OpsgenieInvalid."""
    fields: dict[str, str] = {}
    target = _target(identifier, identifier_type, fields)
    if fields:
        raise OpsgenieInvalid(fields)
    return target


def _body(data: Any, fields: dict[str, str]) -> dict[str, Any]:
    # Alertmanager sends {"source": …}; the SDK sends no body when there is no payload.
    body = data if data is not None else {}
    if not isinstance(body, dict):
        fields["body"] = "should be a JSON object"
        return {}
    return body


def parse_update(
    name: str,
    identifier: str,
    identifier_type: str | None,
    data: Any,
    *,
    routing_key: str = "",
) -> ParsedEvent:
    """Validate PUT /v2/alerts/{identifier}/{message|description|priority}?identifierType=…
    and its body ({"message": …}, {"description": …} or {"priority": "P1"…"P5"}). The event's
    action is the field's name and its details hold the new value. Raises OpsgenieInvalid."""
    fields: dict[str, str] = {}
    if name not in UPDATES:
        fields["field"] = "should be one of [ message, description, priority ]"
    dedup_key, alert_id = _target(identifier, identifier_type, fields)
    body = _body(data, fields)
    event = ParsedEvent(
        routing_key=routing_key,
        action=name,
        dedup_key=dedup_key,
        source=_source(body, fields) or "opsgenie",
        alert_id=alert_id,
    )
    if name == "priority":
        priority = body.get("priority")
        if not isinstance(priority, str) or priority not in PRIORITY_SEVERITY:
            fields["priority"] = "should be one of [ P1, P2, P3, P4, P5 ]"
        else:
            event.details = {"priority": priority}
            event.severity = PRIORITY_SEVERITY[priority]
    elif name in UPDATES:
        # A message can not be empty (it is the alert's title); a description can.
        value = _text(body, name, fields, UPDATES[name], required=name == "message")
        event.details = {name: value.strip() if name == "message" else value}
        if name == "message":
            event.summary = value.strip()
    user = _text(body, "user", fields, USER_MAX)
    if user:
        event.details["user"] = user
    if fields:
        raise OpsgenieInvalid(fields)
    return event


def parse_note(
    identifier: str, identifier_type: str | None, data: Any, *, routing_key: str = ""
) -> ParsedEvent:
    """Validate POST /v2/alerts/{identifier}/notes?identifierType=… and its body {note (required),
    user?, source?}. Raises OpsgenieInvalid."""
    fields: dict[str, str] = {}
    dedup_key, alert_id = _target(identifier, identifier_type, fields)
    body = _body(data, fields)
    note = _text(body, "note", fields, NOTE_MAX, required=True)
    user = _text(body, "user", fields, USER_MAX)
    source = _source(body, fields)
    if fields:
        raise OpsgenieInvalid(fields)
    return ParsedEvent(
        routing_key=routing_key,
        action=NOTE,
        dedup_key=dedup_key,
        summary=note.strip()[:SUMMARY_MAX],
        source=source or "opsgenie",
        details={"user": user} if user else {},
        alert_id=alert_id,
        note=note,
    )


def accepted(request_id: str, took: float) -> dict[str, Any]:
    """The 202 body for every accepted create or action."""
    return {"result": "Request will be processed", "took": took, "requestId": request_id}


def error_body(
    message: str,
    took: float,
    request_id: str,
    errors: Mapping[str, str] | None = None,
    *,
    code: int | None = None,
) -> dict[str, Any]:
    """Opsgenie's error body for any 4xx/5xx; `errors` ({field: problem}) only on a 422,
    `code` (Opsgenie's internal code) only where Opsgenie sends one (a 403)."""
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = dict(errors)
    if code is not None:
        body["code"] = code
    return {**body, "took": took, "requestId": request_id}


def request_status(
    request_id: str,
    *,
    action: str,
    success: bool,
    processed_at: datetime,
    integration_id: str | int,
    took: float,
    alert_id: str | int | None = None,
    alias: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The 200 body of GET /v2/alerts/requests/{request_id}.

    `action` is the ParsedEvent.action the request carried (trigger, resolve, acknowledge,
    unacknowledge); `status` defaults to Opsgenie's success text ("Created alert", …) and
    should say why on failure ("Alert does not exist"). A naive `processed_at` is taken as
    UTC. Report only final outcomes: the SDK polls again, for minutes, while isSuccess is
    false. alertId and alias are left out when None.
    """
    name, done = REQUEST_ACTIONS[action]
    if processed_at.tzinfo is None:
        processed_at = processed_at.replace(tzinfo=UTC)
    stamp = processed_at.astimezone(UTC).isoformat(timespec="milliseconds")
    data: dict[str, Any] = {
        "success": success,
        "action": name,
        "processedAt": stamp.replace("+00:00", "Z"),
        "integrationId": str(integration_id),
        "isSuccess": success,
        "status": status or (done if success else "Request failed"),
    }
    if alert_id is not None:
        data["alertId"] = str(alert_id)
    if alias is not None:
        data["alias"] = alias
    return {"data": data, "took": took, "requestId": request_id}
