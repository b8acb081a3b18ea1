"""The audit trail: who did what, when and from where, append-only and chained by hash.

`record` adds a record in the caller's transaction, so it commits or rolls back with what it
records (a savepoint rolled back takes its records with it). When the transaction commits,
`seal` numbers its records after the last committed one and hashes each over its content and
the previous record's hash, holding the head row's lock until the commit: records chain in
commit order whichever process wrote them, and changing, removing or reordering a committed
record breaks every hash after it (`verify`).

A refusal whose own transaction rolls back is recorded with `record_apart`, in a transaction
of its own; or, where the caller's transaction cannot be ended first (a service refusing a
change, on SQLite whose write lock that transaction may hold), with `record_refused`: in that
transaction if it commits after all, otherwise apart as soon as it has ended.

Who acts is set once per unit of work with `acting` (the request's user by `deps`, the CLI,
a job); `record` takes it from there unless given one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, event, func, inspect, select, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from tocsin.audit.models import GENESIS, AuditHead, AuditRecord
from tocsin.db import rows_affected, transaction, utcnow

ACTOR_KEY = "audit.actor"
PENDING_KEY = "audit.pending"
REFUSED_KEY = "audit.refused"
FACTORY_KEY = "audit.factory"
OUTCOMES = ("ok", "refused", "failed")

log = structlog.get_logger("tocsin.audit")


@dataclass(frozen=True)
class Actor:
    """Who acts: a person or service account (`user_id`), or Tocsin itself."""

    user_id: int | None
    label: str
    via: str
    address: str | None = None
    token_id: int | None = None


SYSTEM = Actor(None, "Tocsin", "system")


def acting(session: Session, actor: Actor) -> None:
    """`actor` is who acts in this session from now on."""
    session.info[ACTOR_KEY] = actor


def acting_by_default(factory: sessionmaker[Session], actor: Actor) -> None:
    """`actor` acts in every session `factory` makes from now on, unless `acting` says
    otherwise (the CLI's local commands)."""
    factory.configure(info={**(factory.kw.get("info") or {}), ACTOR_KEY: actor})


def actor_of(session: Session) -> Actor:
    """Who acts in this session (Tocsin itself unless `acting` said otherwise)."""
    actor = session.info.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else SYSTEM


def canonical(detail: Mapping[str, Any] | None) -> str:
    """`detail` as the JSON that is stored and hashed: sorted keys, no spaces; values that
    JSON lacks (datetimes, sets) as text."""
    return json.dumps(
        dict(detail or {}), sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False
    )


def record(
    session: Session,
    action: str,
    *,
    target_type: str = "",
    target_id: str | int | None = None,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
    outcome: str = "ok",
) -> AuditRecord:
    """Add a record of `action` to the caller's transaction; it joins the chain at commit."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    who = actor or actor_of(session)
    row = AuditRecord(
        at=utcnow(),
        actor_id=who.user_id,
        actor_label=who.label[:254],
        via=who.via[:16],
        address=(who.address or None) and who.address[:64],
        token_id=who.token_id,
        action=action[:64],
        outcome=outcome,
        target_type=target_type[:40],
        target_id="" if target_id is None else str(target_id)[:64],
        target=(target or "")[:255],
        detail=canonical(detail),
    )
    session.add(row)
    session.info.setdefault(PENDING_KEY, []).append(row)
    return row


def record_refused(
    session: Session,
    action: str,
    *,
    target_type: str = "",
    target_id: str | int | None = None,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record that `action` was refused, by who acts in `session`, whatever becomes of its
    transaction: with it if it commits, otherwise in a transaction of its own once it has
    rolled back or closed (the caller of a refusing service usually rolls back)."""
    fields = {"target_type": target_type, "target_id": target_id, "target": target,
              "detail": dict(detail or {})}  # fmt: skip
    session.info.setdefault(REFUSED_KEY, []).append((actor_of(session), action, fields))


def record_apart(
    factory: sessionmaker[Session], action: str, *, actor: Actor, **fields: Any
) -> None:
    """Record `action` in a transaction of its own: for refusals, whose transaction is rolled
    back. Roll the caller's session back first: on SQLite it may hold the one write lock,
    which this transaction would wait for."""
    with transaction(factory) as session:
        record(session, action, actor=actor, **fields)


def hashed_fields(row: AuditRecord) -> dict[str, Any]:
    """The fields a record's hash covers, besides the previous record's hash, as hashed."""
    return {
        "seq": row.seq,
        "at": _instant(row.at),
        "actor_id": row.actor_id,
        "actor_label": row.actor_label,
        "via": row.via,
        "address": row.address,
        "token_id": row.token_id,
        "action": row.action,
        "outcome": row.outcome,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "target": row.target,
        "detail": row.detail,
    }


def digest(row: AuditRecord, prev_hash: str) -> str:
    """The hash of `row` after `prev_hash`: over every field but its own id and hash."""
    content = {**hashed_fields(row), "prev": prev_hash}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _instant(at: datetime) -> str:
    # Microseconds, in UTC: what both backends store and give back.
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seal(session: Session) -> None:
    """Number and hash this transaction's records (a `before_commit` listener)."""
    if session.in_nested_transaction():
        return
    for actor, action, fields in session.info.pop(REFUSED_KEY, []):
        record(session, action, actor=actor, outcome="refused", **fields)
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    session.flush()
    # Records added while flushing are in the list too; records rolled back are not persistent.
    rows = [row for row in session.info.pop(PENDING_KEY, []) if inspect(row).persistent]
    if not rows:
        return
    rows.sort(key=lambda row: row.id)
    # The row lock on the head, held until this commit, orders concurrent appenders.
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + len(rows))
        .returning(AuditHead.seq, AuditHead.hash)
    ).one_or_none()
    if head is None:
        session.add(AuditHead(id=1, seq=len(rows), hash=GENESIS))
        session.flush()
        last_seq, prev = len(rows), GENESIS
    else:
        last_seq, prev = head
    seq = last_seq - len(rows)
    for row in rows:
        seq += 1
        row.seq = seq
        row.prev_hash = prev
        row.hash = prev = digest(row, prev)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    session.flush()


def _ended(session: Session, ended: SessionTransaction) -> None:
    """An `after_transaction_end` listener. A savepoint's end changes nothing here: its rolled
    back records are left out by `seal`, and the transaction goes on. The outermost
    transaction's end forgets its unsealed records (rolled back, or closed unfinished), and
    records the refusals it did not commit, apart."""
    if ended.parent is not None:
        return
    session.info.pop(PENDING_KEY, None)
    refused = session.info.pop(REFUSED_KEY, None)
    if not refused:
        return
    actions = [action for _, action, _ in refused]
    factory = session.info.get(FACTORY_KEY)
    if factory is None:  # not a session of the factory `install` was given
        log.error("audit.refusal_not_recorded", actions=actions, error="no session factory")
        return
    try:
        # The ended transaction's connection is released: on SQLite its write lock too.
        with transaction(factory) as apart:
            for actor, action, fields in refused:
                record(apart, action, actor=actor, outcome="refused", **fields)
    except Exception as exc:  # noqa: BLE001 - the refusal itself must still be answered
        log.error("audit.refusal_not_recorded", actions=actions, error=str(exc))


def install(factory: sessionmaker[Session]) -> None:
    """Seal records at every commit, and write the refusals a rolled back transaction
    queued (`record_refused`) through `factory`, whose sessions (and those of the factories
    made from it with `db.rebind`) find it in `Session.info`. Called by the composition
    root."""
    factory.configure(info={**(factory.kw.get("info") or {}), FACTORY_KEY: factory})
    if not event.contains(Session, "before_commit", seal):
        event.listen(Session, "before_commit", seal)
        event.listen(Session, "after_transaction_end", _ended)


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: the records checked and the first that breaks the chain."""

    checked: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def verify(session: Session, *, batch: int = 5000) -> Verdict:
    """Walk the chain from the oldest kept record: each must follow the previous by number
    and hash, the first the last purged, and the last be the head. While others write, call
    it in a `db.snapshot` session, which sees the head and the records as of one moment."""
    head = session.get(AuditHead, 1)
    if head is None:
        return Verdict(0)
    expected_seq, prev = head.purged_seq, head.purged_hash
    checked = 0
    while True:
        rows = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq > expected_seq, AuditRecord.seq <= head.seq)
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        for row in rows:
            if row.seq != expected_seq + 1:
                return Verdict(checked, expected_seq + 1, "a record is missing")
            if row.prev_hash != prev or row.hash != digest(row, prev):
                return Verdict(checked, row.seq, "the record was changed")
            expected_seq, prev = row.seq or 0, row.hash or ""
            checked += 1
        if len(rows) < batch:
            break
    if expected_seq != head.seq or prev != head.hash:
        return Verdict(checked, expected_seq + 1, "the newest records are missing")
    after = session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.seq > head.seq))
    if after is not None:
        return Verdict(checked, after, "a record was added after the newest")
    return Verdict(checked)


def purge(session: Session, *, before: datetime) -> int:
    """Remove the records older than `before` (the retention period), oldest first and
    without gaps, remembering the last one's number and hash so the chain still verifies.
    Records are numbered at commit but dated when written, so a record committed just after
    the cut may go with the older ones before it."""
    last = session.execute(
        select(AuditRecord.seq, AuditRecord.hash)
        .where(AuditRecord.at < before, AuditRecord.seq.is_not(None))
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    ).one_or_none()
    if last is None:
        return 0
    last_seq, last_hash = last
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(purged_seq=last_seq, purged_hash=last_hash)
        .returning(AuditHead.id)
    ).one_or_none()
    if head is None:
        return 0
    removed = session.execute(
        delete(AuditRecord).where(AuditRecord.seq <= last_seq),
        execution_options={"synchronize_session": False},
    )
    return rows_affected(removed)
