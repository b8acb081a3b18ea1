"""The audit trail's rows: records chained by hash, and the chain's head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, utcnow

# The hash before the first record of a new install.
GENESIS = "0" * 64


class AuditRecord(Base):
    """Something done, by whom, from where. Written in the transaction of what it records and
    numbered and hashed when that transaction commits (`trail.seal`): a record with no `seq`
    is never visible to another transaction. People and tokens are named by id and label, not
    by foreign key, so that a record outlives what it names and its hash never changes."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_action_at", "action", "at"),
        Index("ix_audit_records_actor_at", "actor_id", "at"),
        Index("ix_audit_records_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain: 1, 2, 3… in commit order, without gaps.
    seq: Mapped[int | None] = mapped_column(unique=True, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    # How the actor came: session, token, sso, scim, cli, system, anonymous.
    via: Mapped[str] = mapped_column(String(16), default="system")
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    token_id: Mapped[int | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(64))
    # ok, refused or failed.
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(255), default="")
    # Canonical JSON (sorted keys), exactly as hashed.
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditHead(Base):
    """The chain's one head row (id 1): the last record's number and hash, taken with a row
    lock by every committing transaction that appends, so records chain in commit order. Kept
    past the retention period: the number and hash of the last record purged, from which the
    oldest kept record must continue."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    purged_seq: Mapped[int] = mapped_column(default=0)
    purged_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
