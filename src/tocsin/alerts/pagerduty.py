"""The PagerDuty Events API v2 wire format: parsing and validating what senders post."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from tocsin.alerts import bodies

MAX_BODY = 512 * 1024
SUMMARY_MAX = 1024
DEDUP_MAX = 255
SOURCE_MAX = 255
# Links and images kept per event, and their lengths: more is cut, not refused.
CONTEXT_MAX = 20
HREF_MAX = 2048
TEXT_MAX = 255
_WEB = ("http://", "https://")
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


class EventInvalid(Exception):
    """The event cannot be accepted; `errors` are PagerDuty-style messages for the sender."""

    def __init__(self, errors: list[str], message: str = "Event object is invalid") -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.message = message


@dataclass
class ParsedEvent:
    """One normalized event, whatever format it arrived in.

    `action` is trigger, acknowledge, unacknowledge or resolve; every action but trigger names
    its alert by `dedup_key` or `alert_id`.
    """

    routing_key: str
    action: str
    dedup_key: str | None
    summary: str = ""
    severity: str = "error"
    source: str = ""
    timestamp: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
    # Alertmanager's groupKey: alerts of one group join one incident by default.
    group_key: str | None = None
    # Target an alert by Tocsin's alert id instead of the dedup key (Opsgenie identifierType=id).
    alert_id: int | None = None
    # Free text the sender attached to an action (Opsgenie `note`); kept on the timeline.
    note: str = ""
    # PagerDuty `images`: [{src (https), href?, alt?}], checked by `images_of`.
    images: list[dict[str, str]] = field(default_factory=list)


def decode_event(data: str) -> ParsedEvent:
    """The normalized event stored in `events.data`."""
    try:
        return msgspec.json.decode(data, type=ParsedEvent)
    except msgspec.ValidationError:
        # Rows written before the pipeline existed hold the received body instead.
        return ParsedEvent(routing_key="", action="trigger", dedup_key=None)


def _string(value: Any, name: str, errors: list[str], *, max_len: int, required: bool) -> str:
    if value is None or value == "":
        if required:
            errors.append(f"'{name}' is missing or blank")
        return ""
    if not isinstance(value, str):
        errors.append(f"'{name}' must be a string")
        return ""
    if len(value) > max_len:
        errors.append(f"'{name}' is longer than {max_len} characters")
    return value


def _no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _is_url(value: str, schemes: tuple[str, ...]) -> bool:
    return value.lower().startswith(schemes) and not any(ch.isspace() for ch in value)


def links_of(value: Any) -> list[dict[str, str]]:
    """PagerDuty `links`: each {href, text?} with a string href is kept (text defaults to the
    href), up to CONTEXT_MAX; anything else in the list is skipped, as PagerDuty does."""
    if not isinstance(value, list):
        return []
    out = []
    for link in value[:CONTEXT_MAX]:
        if isinstance(link, dict) and isinstance(link.get("href"), str):
            text = link.get("text") if isinstance(link.get("text"), str) else link["href"]
            out.append({"href": link["href"][:HREF_MAX], "text": str(text)[:TEXT_MAX]})
    return out


def images_of(value: Any) -> list[dict[str, str]]:
    """PagerDuty `images`: each needs a `src` served over HTTPS; `href` (an http or https
    link) and `alt` are optional. An image that breaks these rules is left out and the event
    is kept: an image is context, and refusing the event would lose the page it carries."""
    if not isinstance(value, list):
        return []
    out = []
    for image in value[:CONTEXT_MAX]:
        if not isinstance(image, dict):
            continue
        src = image.get("src")
        if not isinstance(src, str) or len(src) > HREF_MAX or not _is_url(src, ("https://",)):
            continue
        kept = {"src": _no_nul(src)}
        href = image.get("href")
        if isinstance(href, str) and len(href) <= HREF_MAX and _is_url(href, _WEB):
            kept["href"] = _no_nul(href)
        alt = image.get("alt")
        if isinstance(alt, str) and alt.strip():
            kept["alt"] = _no_nul(alt.strip()[:TEXT_MAX])
        out.append(kept)
    return out


def _timestamp(value: Any, name: str, errors: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"'{name}' is not an ISO 8601 date and time")
        return None


def parse_event(data: Any) -> ParsedEvent:
    """Validate an /v2/enqueue body. Acknowledge and resolve need no payload."""
    if not isinstance(data, dict):
        raise EventInvalid(["JSON parse error"], "Event object format is unrecognized")
    errors: list[str] = []
    routing_key = _string(data.get("routing_key"), "routing_key", errors, max_len=64, required=True)
    action = data.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None:
        dedup_key = _string(dedup_key, "dedup_key", errors, max_len=DEDUP_MAX, required=False)
        dedup_key = dedup_key or None
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action} an alert")
    event = ParsedEvent(routing_key=routing_key, action=str(action), dedup_key=dedup_key)
    payload = data.get("payload")
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
            payload = {}
        event.summary = _string(
            payload.get("summary"), "payload.summary", errors, max_len=SUMMARY_MAX, required=True
        )
        event.source = _string(
            payload.get("source"), "payload.source", errors, max_len=SOURCE_MAX, required=True
        )
        severity = payload.get("severity")
        if severity not in SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        else:
            event.severity = severity
        event.timestamp = _timestamp(payload.get("timestamp"), "payload.timestamp", errors)
        details = payload.get("custom_details")
        if details is not None:
            event.details = details if isinstance(details, dict) else {"details": details}
        for name in ("component", "group", "class"):
            if isinstance(payload.get(name), str):
                event.details.setdefault(f"_{name}", payload[name])
    elif isinstance(payload, dict) and isinstance(payload.get("summary"), str):
        event.summary = payload["summary"][:SUMMARY_MAX]
    event.links = links_of(data.get("links"))
    event.images = images_of(data.get("images"))
    if errors:
        raise EventInvalid(errors)
    return event


def parse_change_event(data: Any) -> ParsedEvent:
    """Validate a /v2/change/enqueue body: {routing_key, payload: {summary, source?,
    timestamp?, custom_details?}, links?} (and `images`, which the official client may send).
    Returns the change as an event with action "change", its routing key still in it."""
    if not isinstance(data, dict):
        raise EventInvalid(["JSON parse error"], "Event object format is unrecognized")
    errors: list[str] = []
    routing_key = _string(data.get("routing_key"), "routing_key", errors, max_len=64, required=True)
    event = ParsedEvent(routing_key=routing_key, action="change", dedup_key=None, severity="info")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        payload = {}
    event.summary = _string(
        payload.get("summary"), "payload.summary", errors, max_len=SUMMARY_MAX, required=True
    )
    event.source = _string(
        payload.get("source"), "payload.source", errors, max_len=SOURCE_MAX, required=False
    )
    event.timestamp = _timestamp(payload.get("timestamp"), "payload.timestamp", errors)
    details = payload.get("custom_details")
    if details is not None:
        event.details = details if isinstance(details, dict) else {"details": details}
    event.links = links_of(data.get("links"))
    event.images = images_of(data.get("images"))
    if errors:
        raise EventInvalid(errors)
    return event


# The usual body, decoded and type-checked in one pass by msgspec (fields it does not name are
# skipped, as PagerDuty does). Anything else (a wrong type, a missing field, a broken link)
# fails this decoding, and `parse_body` hands the body to `parse_event`, which accepts what it
# can and names every error.


class _Link(msgspec.Struct):
    href: str
    text: str | None = None


class _Payload(msgspec.Struct):
    summary: str
    source: str
    severity: str
    timestamp: str | None = None
    custom_details: Any = None
    component: Any = None
    group: Any = None
    class_: Any = msgspec.field(default=None, name="class")


class _Body(msgspec.Struct):
    routing_key: str
    event_action: str
    dedup_key: str | None = None
    payload: _Payload | None = None
    links: list[_Link] | None = None
    # Checked by images_of, like parse_event does: any JSON is accepted here.
    images: Any = None


_decode_body = msgspec.json.Decoder(_Body).decode
_decode_any = msgspec.json.Decoder().decode


def parse_body(raw: bytes | bytearray | memoryview) -> ParsedEvent:
    """Decode and validate an /v2/enqueue body: `parse_event(json)`, the same answer, faster
    for the bodies senders post all day. Raises msgspec.DecodeError for a body that is not
    JSON or nests too deeply (bodies.TooDeep), EventInvalid for one that is not a valid
    event."""
    if bodies.may_be_too_deep(raw):
        return parse_event(bodies.decode(raw))
    try:
        event = _plain(_decode_body(raw))
    except msgspec.DecodeError:  # ValidationError included: not the usual shape
        event = None
    return event if event is not None else parse_event(_decode_any(raw))


def _plain(body: _Body) -> ParsedEvent | None:
    """The event of a well-typed body if every rule holds; None to let parse_event decide
    (and word the errors)."""
    key, action, dedup_key, payload = (
        body.routing_key,
        body.event_action,
        body.dedup_key,
        body.payload,
    )
    if not key or len(key) > 64 or action not in ACTIONS:
        return None
    if dedup_key is not None and len(dedup_key) > DEDUP_MAX:
        return None
    event = ParsedEvent(routing_key=key, action=action, dedup_key=dedup_key or None)
    if action == "trigger":
        if payload is None:
            return None
        summary, source, severity = payload.summary, payload.source, payload.severity
        if not summary or len(summary) > SUMMARY_MAX or not source or len(source) > SOURCE_MAX:
            return None
        if severity not in SEVERITIES:
            return None
        event.summary, event.source, event.severity = summary, source, severity
        if payload.timestamp is not None:
            try:
                event.timestamp = datetime.fromisoformat(payload.timestamp.replace("Z", "+00:00"))
            except ValueError:
                return None
        details = payload.custom_details
        if details is not None:
            event.details = details if isinstance(details, dict) else {"details": details}
        for name, value in (
            ("component", payload.component),
            ("group", payload.group),
            ("class", payload.class_),
        ):
            if isinstance(value, str):
                event.details.setdefault(f"_{name}", value)
    elif not event.dedup_key:
        return None
    elif payload is not None:
        event.summary = payload.summary[:SUMMARY_MAX]
    for link in (body.links or [])[:CONTEXT_MAX]:
        text = link.text if link.text is not None else link.href
        event.links.append({"href": link.href[:HREF_MAX], "text": text[:TEXT_MAX]})
    if body.images is not None:
        event.images = images_of(body.images)
    return event
