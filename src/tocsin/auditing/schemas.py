"""API shapes of the audit trail."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import Verdict
from tocsin.catalog.schemas import Timestamp


class AuditRecordOut(BaseModel):
    seq: int = Field(description="Position in the chain (1, 2, 3…, in commit order)")
    at: Timestamp
    actor_id: int | None = Field(description="The person or service account; null: Tocsin")
    actor_label: str = Field(description="Who acted, as named then (an email, `tocsin CLI (…)`)")
    via: str = Field(description="session, token, sso, scim, cli, system or anonymous")
    address: str | None = Field(description="The client's address, when it came over HTTP")
    token_id: int | None
    action: str = Field(description="What was done, e.g. `config.service.updated`")
    outcome: str = Field(description="ok, refused or failed")
    target_type: str
    target_id: str
    target: str = Field(description="What it was done to, as named then")
    detail: dict[str, Any] = Field(
        description="Facts of the action; for a configuration change "
        '`{"field": {"old": …, "new": …}}` (a secret: `{"changed": true}`)'
    )
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last"
    )


class VerifyOut(BaseModel):
    intact: bool = Field(description="Every kept record follows the previous by number and hash")
    checked: int = Field(description="Records checked")
    broken_seq: int | None = Field(description="The first record that breaks the chain")
    reason: str


def record_out(row: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        seq=row.seq or 0,
        at=row.at,
        actor_id=row.actor_id,
        actor_label=row.actor_label,
        via=row.via,
        address=row.address,
        token_id=row.token_id,
        action=row.action,
        outcome=row.outcome,
        target_type=row.target_type,
        target_id=row.target_id,
        target=row.target,
        detail=decoded(row.detail),
        prev_hash=row.prev_hash or "",
        hash=row.hash or "",
    )


def decoded(detail: str) -> dict[str, Any]:
    """A record's detail as a mapping (a record changed by hand may hold anything)."""
    try:
        value = json.loads(detail)
    except ValueError:
        return {"text": detail}
    return value if isinstance(value, dict) else {"value": value}


def verdict_out(verdict: Verdict) -> VerifyOut:
    return VerifyOut(
        intact=verdict.intact,
        checked=verdict.checked,
        broken_seq=verdict.broken_seq,
        reason=verdict.reason,
    )
