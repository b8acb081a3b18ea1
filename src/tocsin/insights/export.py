"""CSV exports of Insights tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.audit.trail import record

# A cell starting with one of these is a formula to a spreadsheet; a quote keeps it text.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def csv_response(
    session: Session,
    request: Request,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> Response:
    """A CSV download: one header row, then `rows` (names people typed are defused as
    formulas). The export is recorded in the audit trail (`export.insights`), with the
    filters it was asked with."""
    record(
        session,
        "export.insights",
        target_type="insights",
        target=filename,
        detail={
            "path": request.url.path,
            "filters": {k: v[:200] for k, v in list(request.query_params.items())[:20]},
        },
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
