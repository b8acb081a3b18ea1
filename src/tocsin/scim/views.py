"""Settings → Provisioning: the SCIM URL and the tokens identity providers send (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tocsin.deps import Admin, AppSettings, DbSession
from tocsin.errors import DomainError
from tocsin.scim import tokens
from tocsin.web.forms import Form, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _context(db: DbSession, settings: AppSettings) -> dict[str, Any]:
    return {
        "tokens": tokens.list_tokens(db),
        "scim_url": settings.base_url.rstrip("/") + "/scim/v2",
        "section": "provisioning",
    }


@router.get("/settings/provisioning")
def provisioning_page(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    return render(request, "settings/provisioning.html", _context(db, settings))


@router.post("/settings/provisioning/tokens")
def create_token(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    try:
        token, secret = tokens.create_token(db, by=admin, name=text(form, "name"))
    except DomainError as exc:
        db.rollback()
        return redirect("/settings/provisioning", error=exc.message)
    context = {**_context(db, settings), "new_secret": secret, "new_token": token}
    # The secret is shown on this response only; only its hash is stored.
    response = render(request, "settings/provisioning.html", context, 201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/provisioning/tokens/{token_id}/revoke")
def revoke_token(token_id: int, db: DbSession, admin: Admin) -> Response:
    try:
        token = tokens.revoke_token(db, token_id)
    except DomainError as exc:
        db.rollback()
        return redirect("/settings/provisioning", error=exc.message)
    return redirect("/settings/provisioning", notice=f"Revoked SCIM token “{token.name}”.")
