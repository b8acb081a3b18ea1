"""Settings → Audit trail (org admins only): the records, filtered and newest first, and
whether the chain verifies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import OUTCOMES, verify
from tocsin.auditing import queries
from tocsin.auditing.schemas import decoded
from tocsin.db import snapshot
from tocsin.deps import Admin, DbSession
from tocsin.errors import ValidationFailed
from tocsin.web.forms import local_day
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
FILTERS = ("action", "actor", "target_type", "target_id", "outcome", "since", "until", "q")


def _shown(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _rows(detail: dict[str, Any]) -> list[tuple[str, str | None, str | None, bool]]:
    """A detail as table rows (field, old, new, whether it is a change): a configuration
    change's fields with their old and new values (members removed and added), anything else
    as field and value."""
    rows = []
    for name, value in sorted(detail.items()):
        if isinstance(value, dict) and value and value.keys() <= {"old", "new"}:
            rows.append((name, _shown(value.get("old")), _shown(value.get("new")), True))
        elif isinstance(value, dict) and value and value.keys() <= {"added", "removed"}:
            removed = _shown(value.get("removed") or None)
            rows.append((name, removed, _shown(value.get("added") or None), True))
        elif value == {"changed": True}:
            rows.append((name, "(hidden)", "(changed, not shown)", True))
        else:
            rows.append((name, None, _shown(value), False))
    return rows


def _entry(row: AuditRecord) -> tuple[AuditRecord, list[Any], bool]:
    rows = _rows(decoded(row.detail))
    return row, rows, any(change for *_, change in rows)


@router.get("/settings/audit")
def audit_page(request: Request, db: DbSession, admin: Admin) -> Response:
    params = request.query_params
    chosen = {name: params.get(name, "")[:254] for name in FILTERS}
    cursor = params.get("cursor", "")
    error = None
    rows: list[Any] = []
    next_cursor = None
    flt = queries.AuditFilter()
    try:
        flt = queries.AuditFilter(
            action=chosen["action"],
            actor=chosen["actor"],
            target_type=chosen["target_type"],
            target_id=chosen["target_id"],
            outcome=chosen["outcome"],
            since=local_day(chosen["since"], admin.timezone),
            until=local_day(chosen["until"], admin.timezone, end=True),
            text=chosen["q"],
        )
        before = int(cursor) if cursor.isascii() and cursor.isdigit() and len(cursor) < 19 else None
        rows, next_cursor = queries.search(db, flt, before=before, limit=PAGE_SIZE)
    except ValidationFailed as exc:
        error = exc.message
    kept = [(k, v) for k, v in chosen.items() if v]
    verdict = None
    if params.get("verify") == "1":
        # Asked for: the walk reads every record, so not on every visit. The request's
        # transaction ends first (on SQLite it holds the write lock) and the walk reads a
        # snapshot of its own, which holds up no writer.
        db.commit()
        with snapshot(request.app.state.sessionmaker) as session:
            verdict = verify(session)
    response = render(
        request,
        "settings/audit.html",
        {
            "section": "audit",
            "records": [_entry(r) for r in rows],
            "filters": chosen,
            "outcomes": OUTCOMES,
            "verdict": verdict,
            "verify_url": "/settings/audit?" + urlencode([*kept, ("verify", "1")]),
            "error": error,
            "next_url": (
                "/settings/audit?" + urlencode([*kept, ("cursor", next_cursor)])
                if next_cursor
                else None
            ),
            "first_url": "/settings/audit?" + urlencode(kept) if cursor else None,
            "export_query": urlencode(
                [(k, v.isoformat()) for k, v in (("since", flt.since), ("until", flt.until)) if v]
            ),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
