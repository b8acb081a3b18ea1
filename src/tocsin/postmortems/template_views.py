"""Settings pages for postmortem templates: the incident types with their templates, and the
editor of one type's template (add, remove, reorder, rename sections, change guidance).

The editor is a plain form (no JavaScript): one row per section and two blank rows to add
one; a row's position number orders it, its Remove box drops it. A refused save shows the
form again as it was sent, with the message (422), so that nothing typed is lost.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from tocsin.definitions import service as defs
from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.postmortems import type_templates
from tocsin.postmortems.template import KINDS
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import Form, redirect
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BLANK_ROWS = 2
LIST = "/settings/postmortem-templates"
_INDEX = re.compile(r"sections\[(\d+)\]")


def _url(type_id: int) -> str:
    return f"{LIST}/{type_id}"


@router.get(LIST)
def templates_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    own = {t.incident_type_id: t for t in type_templates.all_templates(db)}
    return render(
        request,
        "settings/postmortem_templates.html",
        {
            "section": "postmortem-templates",
            "types": [(t, own.get(t.id)) for t in defs.incident_types(db)],
            "default": type_templates.default_sections(),
        },
    )


def _editor(
    request: Request,
    db: DbSession,
    type_id: int,
    rows: list[dict[str, Any]],
    *,
    error: str | None = None,
    error_row: int | None = None,
    status_code: int = 200,
) -> Response:
    own = type_templates.template_of(db, type_id)
    return render(
        request,
        "settings/postmortem_template.html",
        {
            "section": "postmortem-templates",
            "itype": defs.get_incident_type(db, type_id),
            "own": own,
            "rows": rows,
            "blank_rows": range(len(rows), len(rows) + BLANK_ROWS),
            "kinds": KINDS,
            "error": error,
            "error_row": error_row,
            "limits": type_templates,
        },
        status_code,
    )


@router.get(LIST + "/{type_id}")
def template_page(type_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    own = type_templates.template_of(db, type_id)
    rows = own.sections if own is not None else type_templates.default_sections()
    return _editor(request, db, type_id, [dict(r) for r in rows])


def _rows(form: FormData) -> list[dict[str, Any]]:
    """The posted rows in the order their positions give (ties: as on the page), without
    the removed ones and the blank ones."""
    columns = {name: form.getlist(name) for name in (*type_templates.FIELDS, "position")}
    removed = {str(v) for v in form.getlist("remove")}
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for index, key in enumerate(columns["key"]):

        def cell(name: str, i: int = index) -> str:
            values = columns[name]
            return str(values[i]) if i < len(values) else ""

        row = {name: cell(name) for name in type_templates.FIELDS}
        if str(index) in removed or not (str(key).strip() or row["title"].strip()):
            continue
        position = digits(cell("position").strip())
        rows.append((position if position is not None else index + 1, index, row))
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


def _friendly(exc: ValidationFailed) -> tuple[str, int | None]:
    """The message with `sections[2]` read as "section 3", and the row it is about."""

    def one_based(match: re.Match[str]) -> str:
        return f"section {int(match.group(1)) + 1}"

    where = _INDEX.search(exc.field or "")
    message = _INDEX.sub(one_based, exc.message)
    if where is None:
        return message, None
    field = (exc.field or "").rsplit(".", 1)
    detail = f", {field[1]}" if len(field) == 2 else ""
    row = int(where.group(1))
    return f"Section {row + 1}{detail}: {message}", row


@router.post(LIST + "/{type_id}")
def save_template(
    type_id: int, request: Request, db: DbSession, admin: Admin, form: Form
) -> Response:
    rows = _rows(form)
    try:
        type_templates.set_template(db, type_id, rows, by=admin)
    except ValidationFailed as exc:
        db.rollback()
        message, row = _friendly(exc)
        return _editor(request, db, type_id, rows, error=message, error_row=row, status_code=422)
    return redirect(_url(type_id), notice="Postmortem template saved.")


@router.post(LIST + "/{type_id}/reset")
def reset_template(type_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        _url(type_id),
        lambda: type_templates.reset_template(db, type_id),
        notice="Back to PagerDuty's template.",
    )
