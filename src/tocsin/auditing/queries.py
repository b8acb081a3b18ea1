"""Reading the audit trail: search with filters, newest first by cursor; export oldest first.

Records are only read here (and removed only by the retention purge, `tasks.py`): nothing
edits one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from tocsin.audit import trail
from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import OUTCOMES
from tocsin.errors import ValidationFailed


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every filter given must match."""

    action: str = ""  # a prefix: "config." or "config.service.updated"
    actor: str = ""  # a user id, or part of who acted (an email, "tocsin CLI")
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    text: str = ""  # part of the target, its id, the detail or who acted

    def __post_init__(self) -> None:
        if self.outcome and self.outcome not in OUTCOMES:
            raise ValidationFailed(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")


def _contains(column: Any, text: str) -> Any:
    return func.lower(column).contains(text.lower(), autoescape=True)


Q = TypeVar("Q", bound=Select[Any])


def _where(query: Q, flt: AuditFilter) -> Q:
    # Only sealed records: a record without its number is not committed yet.
    query = query.where(AuditRecord.seq.is_not(None))
    if flt.action:
        query = query.where(AuditRecord.action.startswith(flt.action.lower(), autoescape=True))
    actor = flt.actor.strip()
    if actor.isascii() and actor.isdigit() and len(actor) <= 18:
        query = query.where(AuditRecord.actor_id == int(actor))
    elif actor:
        query = query.where(_contains(AuditRecord.actor_label, actor))
    if flt.target_type:
        query = query.where(AuditRecord.target_type == flt.target_type)
    if flt.target_id:
        query = query.where(AuditRecord.target_id == flt.target_id)
    if flt.outcome:
        query = query.where(AuditRecord.outcome == flt.outcome)
    if flt.since is not None:
        query = query.where(AuditRecord.at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditRecord.at < flt.until)
    text = flt.text.strip()
    if text:
        query = query.where(
            or_(
                _contains(AuditRecord.target, text),
                _contains(AuditRecord.target_id, text),
                _contains(AuditRecord.detail, text),
                _contains(AuditRecord.actor_label, text),
            )
        )
    return query


def search(
    session: Session, flt: AuditFilter, *, before: int | None = None, limit: int = 50
) -> tuple[list[AuditRecord], int | None]:
    """The records matching `flt`, newest first, numbered below `before` (the cursor); and the
    cursor of the next page (None on the last)."""
    query = _where(select(AuditRecord), flt)
    if before is not None:
        query = query.where(AuditRecord.seq < before)
    rows = list(session.scalars(query.order_by(AuditRecord.seq.desc()).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].seq
    return rows, None


def export(session: Session, flt: AuditFilter, *, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every record matching `flt`, oldest first, read `batch` at a time."""
    after = 0
    while True:
        rows = list(
            session.scalars(
                _where(select(AuditRecord), flt)
                .where(AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq or after
        session.expunge_all()  # a long export keeps only one batch in memory


def plain(row: AuditRecord) -> dict[str, Any]:
    """A record as JSON, with every field its hash covers (to verify it anywhere)."""
    return {**trail.hashed_fields(row), "prev_hash": row.prev_hash, "hash": row.hash}
