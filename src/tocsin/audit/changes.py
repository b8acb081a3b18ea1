"""Configuration changes, recorded once for every interface (forms, API, `tocsin apply`, the
CLI): a `before_flush` listener on the session factory turns each created, updated or deleted
row of an audited model into a record `config.<kind>.created|updated|deleted`, with the old
and new value of each field that changed.

The composition root says which models are configuration (`Audited`), how to name a row and
which fields never show a value (secrets, hashes, encrypted blobs: recorded as changed, with
no value). This module imports no domain.

What it sees is what the ORM flushes: rows changed through the session. A bulk `UPDATE` or
`DELETE` statement, or rows removed by the database's own `ON DELETE CASCADE`, are not seen
(the parent's deletion is).
"""

from __future__ import annotations

import enum
import json
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import canonical, record

# Fields that change by themselves (timestamps, counters, the last delivery's result): never
# a configuration change on their own.
NOISE = frozenset(
    {
        "created_at",
        "updated_at",
        "last_event_at",
        "last_ok",
        "last_result",
        "last_result_at",
        "consecutive_failures",
        "round_robin_next",
        "content_version",
        "rendered_version",
        "rendered_at",
        "version",
    }
)
# Whatever the composition root says, a field named like a secret never shows its value.
_SECRET_PARTS = ("password", "secret", "_hash", "encrypted", "salt", "token", "credential")
CHANGED = {"changed": True}
_CREATED_IDS = "audit.created_ids"
_OPEN = "audit.config_open"
_UNRECORDED = "audit.config_unrecorded"
_LISTENER = "audit.config_changes"


def unrecorded(session: Session) -> None:
    """This session's configuration changes are not recorded: the defaults a new install (or
    an upgrade) writes, which nobody chose."""
    session.info[_UNRECORDED] = True


def _first_of(*names: str) -> Callable[[Any], str]:
    def label(row: Any) -> str:
        for name in names:
            value = getattr(row, name, None)
            if value:
                return str(value)
        return ""

    return label


default_label = _first_of("name", "title", "label", "email", "slug", "key")


@dataclass(frozen=True)
class Audited:
    """A configuration model: its rows' changes are recorded as `config.<kind>.…`.

    `label` names a row for people; `hidden` fields are recorded as changed without values;
    `ignored` fields are not recorded (with `NOISE`); `collections` are many-to-many
    relationships whose added and removed members are recorded (labelled by `label` of the
    other side, or their id)."""

    model: type[Any]
    kind: str
    label: Callable[[Any], str] = default_label
    hidden: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    collections: tuple[str, ...] = ()
    member_label: Callable[[Any], str] = default_label


def secret(name: str) -> bool:
    """True if `name` looks like a secret's field (its value is never recorded)."""
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS)


def plain(value: Any) -> Any:
    """`value` as JSON can hold it: datetimes as ISO text, enums by value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


@dataclass
class ConfigChanges:
    """The listener: one record per audited row created, updated or deleted in a flush."""

    audited: Iterable[Audited]
    by_model: dict[type[Any], Audited] = field(init=False)
    by_class: dict[type[Any], Audited | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.by_model = {a.model: a for a in self.audited}

    def install(self, factory: sessionmaker[Session]) -> None:
        """Record the changes flushed by `factory`'s sessions, and those of the factories made
        from it (`db.rebind`, as the job runner does): the listener finds this object in
        `Session.info`, which they share."""
        factory.configure(info={**(factory.kw.get("info") or {}), _LISTENER: self})
        if not event.contains(Session, "before_flush", _before_flush):
            event.listen(Session, "before_flush", _before_flush)
            event.listen(Session, "after_flush_postexec", _after_flush_postexec)

    def _audited(self, row: Any) -> Audited | None:
        # Every flush asks for every row it writes (alert ingestion too): once per class.
        cls = type(row)
        if cls not in self.by_class:
            found = [self.by_model[c] for c in cls.__mro__ if c in self.by_model]
            self.by_class[cls] = found[0] if found else None
        return self.by_class[cls]

    def before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        if session.info.get(_UNRECORDED):
            return
        for row in list(session.new):
            spec = self._audited(row)
            if spec is not None:
                self._created(session, spec, row)
        for row in list(session.dirty):
            spec = self._audited(row)
            if spec is not None and session.is_modified(row):
                self._updated(session, spec, row)
        for row in list(session.deleted):
            spec = self._audited(row)
            if spec is not None:
                self._deleted(session, spec, row)

    def after_flush_postexec(self, session: Session, _context: Any) -> None:
        # A created row has its id only once inserted: its record learns it here, before the
        # record is hashed (at commit).
        created: list[tuple[AuditRecord, weakref.ref[Any]]] = session.info.pop(_CREATED_IDS, [])
        for audit_row, ref in created:
            row = ref()
            if row is not None:
                audit_row.target_id = _identity(row)[:64]

    def _fields(self, spec: Audited, row: Any) -> list[str]:
        skip = NOISE | spec.ignored
        return [
            attr.key
            for attr in inspect(type(row)).column_attrs
            if attr.key not in skip and attr.key != "id"
        ]

    def _hidden(self, spec: Audited, name: str) -> bool:
        return name in spec.hidden or secret(name)

    def _created(self, session: Session, spec: Audited, row: Any) -> None:
        detail: dict[str, Any] = {}
        for name in self._fields(spec, row):
            value = getattr(row, name, None)
            if value is None or value == "" or value == [] or value == {}:
                continue
            detail[name] = CHANGED if self._hidden(spec, name) else {"new": plain(value)}
        for name in spec.collections:
            added = [spec.member_label(m) or _identity(m) for m in getattr(row, name, [])]
            if added:
                detail[name] = {"added": added}
        audit_row = self._record(session, spec, "created", row, detail)
        session.info.setdefault(_CREATED_IDS, []).append((audit_row, weakref.ref(row)))
        # Changes later in the same transaction complete the creation's record.
        _open_records(session)[row] = audit_row

    def _updated(self, session: Session, spec: Audited, row: Any) -> None:
        state = inspect(row)
        detail: dict[str, Any] = {}
        for name in self._fields(spec, row):
            history = state.attrs[name].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
            detail[name] = (
                CHANGED if self._hidden(spec, name) else {"old": plain(old), "new": plain(new)}
            )
        for name in spec.collections:
            history = state.attrs[name].history
            added = [spec.member_label(m) or _identity(m) for m in history.added]
            removed = [spec.member_label(m) or _identity(m) for m in history.deleted]
            if added or removed:
                detail[name] = {"added": added, "removed": removed}
        if detail:
            self._merge_or_record(session, spec, row, detail)

    def _merge_or_record(
        self, session: Session, spec: Audited, row: Any, detail: dict[str, Any]
    ) -> None:
        """One record per row and transaction: a row changed in several flushes (a service
        checks a name is free, which flushes, then sets the tier) gets one record, from the
        first old value to the last new one."""
        open_records = _open_records(session)
        audit_row = open_records.get(row)
        if audit_row is None or not _unsealed(audit_row):
            open_records[row] = self._record(session, spec, "updated", row, detail)
            return
        merged = json.loads(audit_row.detail)
        for name, change in detail.items():
            before = merged.get(name)
            if change == CHANGED or before == CHANGED:
                merged[name] = CHANGED
            elif isinstance(before, dict) and "new" in change:
                combined = {**before, "new": change["new"]}
                if combined.get("old") == combined["new"] and "old" in combined:
                    merged.pop(name)
                else:
                    merged[name] = combined
            elif isinstance(before, dict) and "added" in change:
                added = [*before.get("added", []), *change.get("added", [])]
                removed = [*before.get("removed", []), *change.get("removed", [])]
                merged[name] = {
                    "added": [m for m in added if m not in removed],
                    "removed": [m for m in removed if m not in added],
                }
            elif audit_row.action.endswith(".created") and "new" in change:
                merged[name] = {"new": change["new"]}  # set after creation: still its value
            else:
                merged[name] = change
        audit_row.detail = canonical(merged)
        audit_row.target = _label(spec, row)

    def _deleted(self, session: Session, spec: Audited, row: Any) -> None:
        state = inspect(row)
        detail: dict[str, Any] = {}
        for name in self._fields(spec, row):
            history = state.attrs[name].history
            values = [*history.unchanged, *history.deleted]
            if not values or values[0] is None or values[0] == "":
                continue
            detail[name] = CHANGED if self._hidden(spec, name) else {"old": plain(values[0])}
        self._record(session, spec, "deleted", row, detail)

    def _record(
        self, session: Session, spec: Audited, what: str, row: Any, detail: dict[str, Any]
    ) -> AuditRecord:
        return record(
            session,
            f"config.{spec.kind}.{what}",
            target_type=spec.kind,
            target_id=_identity(row),
            target=_label(spec, row),
            detail=detail,
        )


def _before_flush(session: Session, context: Any, instances: Any) -> None:
    listener = session.info.get(_LISTENER)
    if isinstance(listener, ConfigChanges):
        listener.before_flush(session, context, instances)


def _after_flush_postexec(session: Session, context: Any) -> None:
    listener = session.info.get(_LISTENER)
    if isinstance(listener, ConfigChanges):
        listener.after_flush_postexec(session, context)


def _open_records(session: Session) -> weakref.WeakKeyDictionary[Any, AuditRecord]:
    """The rows recorded in this session, with their record: weakly, so that a row nobody
    holds any more leaves the identity map as it would without the audit trail."""
    found = session.info.get(_OPEN)
    if not isinstance(found, weakref.WeakKeyDictionary):
        found = session.info[_OPEN] = weakref.WeakKeyDictionary()
    return found


def _unsealed(audit_row: AuditRecord) -> bool:
    # Still in this transaction's records (neither committed nor rolled back).
    state = inspect(audit_row)
    return audit_row.seq is None and (state.pending or state.persistent)


def _identity(row: Any) -> str:
    identity = inspect(row).identity
    if identity is None:
        return ""
    return "/".join(str(part) for part in identity)


def _label(spec: Audited, row: Any) -> str:
    # Labels read the row's own columns: nothing to load in the middle of a flush.
    return spec.label(row)[:255]
