"""From a request to an event row, and from event rows to alerts and incidents.

Accepting: an ingestion endpoint validates the body and turns it into event rows (event_row),
which the engine commits in groups before the request answers 2xx (inbox.py, writer.py).

Applying: pending events are applied in id order (apply.py), in batches. One transaction at a
time applies events across all processes (a PostgreSQL advisory lock; SQLite's single
writer), so events for one alert apply in the order they were stored, and the unique index on
open alerts stays the last word on deduplication.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tocsin.alerts.models import Event, Outcome
from tocsin.alerts.pagerduty import DEDUP_MAX, SEVERITIES, SUMMARY_MAX, ParsedEvent
from tocsin.db import EVENT_PROCESSOR_LOCK, rows_affected, wait_for_event_processor

PROCESSOR_LOCK = EVENT_PROCESSOR_LOCK
_encoder = msgspec.json.Encoder()


def _clean(value: Any) -> Any:
    """The value without NUL characters, which PostgreSQL text refuses and nobody means."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fit_key(value: str | None, limit: int) -> str | None:
    """A key that fits its column: a longer one becomes its digest, so it still matches."""
    if value is None or len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def clean_event(event: ParsedEvent) -> ParsedEvent:
    """Make an accepted event storable on every backend, whatever its format's parser let
    through (in place; returns it): no NUL characters, every field within its column. (Its
    details and links lose theirs as `event_row` encodes them.)"""
    for name in ("action", "dedup_key", "summary", "severity", "source", "group_key", "note"):
        value = getattr(event, name)
        if isinstance(value, str) and "\x00" in value:
            setattr(event, name, _clean(value))
    event.dedup_key = _fit_key(event.dedup_key, DEDUP_MAX)
    event.group_key = _fit_key(event.group_key, 1024)
    event.summary = event.summary[:SUMMARY_MAX]
    event.source = event.source[:255]
    if event.severity not in SEVERITIES:
        event.severity = "error"
    return event


def _encode_clean(event: ParsedEvent) -> str:
    """The event as stored in `events.data`, without NUL characters in its details and links
    (keys too). Encoding is much cheaper than rebuilding them, and JSON writes a NUL as an
    escape nobody writes otherwise: they are rebuilt only when the encoded event holds one."""
    data = _encoder.encode(event)
    if b"\\u0000" in data:
        event.details = _clean(event.details)
        event.links = _clean(event.links)
        data = _encoder.encode(event)
    return data.decode()


def event_row(
    integration_id: int,
    event: ParsedEvent,
    *,
    raw: str | None,
    received_at: datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The row one accepted event becomes, still pending."""
    clean_event(event)
    if raw is not None and "\x00" in raw:
        raw = raw.replace("\x00", "\ufffd")
    return {
        "integration_id": integration_id,
        "received_at": received_at,
        "action": event.action,
        "dedup_key": event.dedup_key,
        "summary": event.summary,
        "data": _encode_clean(event),
        "raw": raw,
        "request_id": request_id,
        "outcome": Outcome.pending.value,
        "outcome_detail": "",
        "alert_id": None,
        "service_id": None,
        "processed_at": None,
    }


def as_dict(event: ParsedEvent) -> dict[str, Any]:
    return asdict(event)


def take_apply_lock(session: Session) -> bool:
    """Whether this transaction may apply events: always on SQLite (BEGIN IMMEDIATE made it
    the only writer); on PostgreSQL if it got the advisory lock without waiting."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(PROCESSOR_LOCK))))


def wait_for_apply_lock(session: Session) -> None:
    """Take the lock that applying events holds, waiting for a batch under way (a periodic
    job that applies events, such as the heartbeat check, must not run alongside one)."""
    wait_for_event_processor(session)


def purge(session: Session, *, now: datetime, raw_days: int, event_days: int) -> tuple[int, int]:
    """Drop raw bodies past their retention, and events past theirs; returns both counts."""
    cleared = session.execute(
        update(Event)
        .where(Event.raw.is_not(None), Event.received_at < now - timedelta(days=raw_days))
        .values(raw=None)
    )
    deleted = session.execute(
        delete(Event).where(
            Event.received_at < now - timedelta(days=event_days),
            Event.outcome != Outcome.pending.value,
        )
    )
    return rows_affected(cleared), rows_affected(deleted)
