"""JSON routes of the audit trail (org admins only): search, export as JSON lines, verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from tocsin.audit.trail import record, verify
from tocsin.auditing import queries
from tocsin.auditing.schemas import AuditPage, VerifyOut, record_out, verdict_out
from tocsin.catalog.schemas import Aware
from tocsin.db import snapshot
from tocsin.deps import Admin, DbSession
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["audit trail"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Since = Annotated[Aware | None, Query(description="Recorded at or after")]
Until = Annotated[Aware | None, Query(description="Recorded before")]
EXPORT_MEDIA_TYPE = "application/x-ndjson"


@router.get("/audit", response_model=AuditPage, responses=errors(403))
def search(
    db: DbSession,
    admin: Admin,
    action: Annotated[
        str, Query(max_length=64, pattern=r"^[^\x00]*$", description="Action prefix, e.g. config.")
    ] = "",
    actor: Annotated[
        str,
        Query(max_length=254, pattern=r"^[^\x00]*$", description="A user id, or part of who acted"),
    ] = "",
    target_type: Annotated[str, Query(max_length=40, pattern=r"^[^\x00]*$")] = "",
    target_id: Annotated[str, Query(max_length=64, pattern=r"^[^\x00]*$")] = "",
    outcome: Annotated[str, Query(pattern=r"^(|ok|refused|failed)$")] = "",
    since: Since = None,
    until: Until = None,
    q: Annotated[
        str,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="Part of the target or detail"),
    ] = "",
    cursor: Annotated[
        int | None, Query(ge=1, le=2**62, description="`next_cursor` of the previous page")
    ] = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Audit records matching every filter given, newest first, a page at a time."""
    flt = queries.AuditFilter(
        action=action,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
        text=q,
    )
    rows, next_cursor = queries.search(db, flt, before=cursor, limit=limit)
    return {"items": [record_out(r) for r in rows], "next_cursor": next_cursor}


@router.get("/audit/verify", response_model=VerifyOut, responses=errors(403))
def verify_chain(request: Request, db: DbSession, admin: Admin) -> VerifyOut:
    """Walk the chain: whether every kept record follows the previous by number and hash, and
    the first that does not."""
    # The walk reads every record: the request's transaction ends first (on SQLite it holds
    # the write lock), and the walk reads a snapshot of its own, which holds up no writer.
    db.commit()
    with snapshot(request.app.state.sessionmaker) as session:
        return verdict_out(verify(session))


def _lines(factory: sessionmaker[Session], flt: queries.AuditFilter) -> Iterator[bytes]:
    # A snapshot of its own: the request's session has committed and closed before the body
    # streams, and a slow reader must not hold up writers.
    with snapshot(factory) as session:
        for row in queries.export(session, flt):
            yield (json.dumps(queries.plain(row), ensure_ascii=False) + "\n").encode()


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One record per line (JSON lines), oldest first, each with `seq`, "
            "`prev_hash` and `hash` and the fields they cover (`detail` as the exact text "
            "hashed), so anyone can verify the chain",
            "content": {EXPORT_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **errors(403),
    },
)
def export(
    request: Request, db: DbSession, admin: Admin, since: Since = None, until: Until = None
) -> StreamingResponse:
    """The audit records, oldest first, as JSON lines. The export is itself recorded."""
    flt = queries.AuditFilter(since=since, until=until)
    record(
        db,
        "export.audit",
        target_type="audit",
        detail={
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "format": "jsonl",
        },
    )
    return StreamingResponse(
        _lines(request.app.state.sessionmaker, flt),
        media_type=EXPORT_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="tocsin-audit.jsonl"'},
    )
