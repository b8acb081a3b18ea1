"""Login, logout, the API tokens page and the service accounts page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.auth import accounts, tokens
from tocsin.auth import service as auth
from tocsin.auth.login import log_in
from tocsin.auth.scopes import DESCRIPTIONS, Scope
from tocsin.auth.throttle import LoginThrottled, Policy
from tocsin.catalog.models import User, UserRole
from tocsin.deps import SESSION_COOKIE, Admin, AppSettings, CurrentUser, DbSession, OptionalUser
from tocsin.errors import DomainError, Forbidden, Unauthenticated
from tocsin.web.actions import perform
from tocsin.web.clients import request_network
from tocsin.web.csrf import CsrfChecked
from tocsin.web.forms import Form, local_day, optional_int, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(value: str) -> str:
    """Only local paths: never an open redirect to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/incidents"


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str = "/incidents") -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
async def login(
    request: Request, db: DbSession, settings: AppSettings, form: Form, _csrf: CsrfChecked
) -> Response:
    """Cross-origin login posts are refused (CSRF). The database work and the password check
    run off the event loop (auth/login.py)."""
    email, password = text(form, "email"), text(form, "password")
    target = _safe_next(text(form, "next") or "/incidents")
    context = {"next": target, "email": email}
    try:
        _, secret = await log_in(
            db,
            email=email,
            password=password,
            network=request_network(request),
            policy=Policy.from_settings(settings),
            max_age=timedelta(hours=settings.session_max_age_hours),
        )
    except LoginThrottled as exc:
        response = render(request, "login.html", {**context, "error": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        return render(request, "login.html", {**context, "error": exc.message}, 400)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_max_age_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession, user: CurrentUser) -> Response:
    auth.end_web_session(db, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _tokens_context(db: Session, user: User, *, show_all: bool) -> dict[str, Any]:
    return {
        "tokens": tokens.list_tokens(db, None if show_all else user),
        "show_all": show_all,
        "section": "tokens",
        "scopes": [(scope.value, DESCRIPTIONS[scope]) for scope in Scope],
        "owners": accounts.list_service_accounts(db) if user.can(UserRole.admin) else [],
    }


@router.get("/settings/tokens")
def tokens_page(request: Request, db: DbSession, user: CurrentUser, all: bool = False) -> Response:
    show_all = all and user.can(UserRole.admin)
    return render(request, "settings/tokens.html", _tokens_context(db, user, show_all=show_all))


@router.post("/settings/tokens")
def create_token(request: Request, db: DbSession, user: CurrentUser, form: Form) -> Response:
    """A token for yourself or (admins) a service account, with the scopes ticked and an
    optional last day (it stops working at the end of that day, in your time zone)."""
    try:
        last_day = text(form, "expires_on").strip()
        token, secret = tokens.issue_api_token(
            db,
            by=user,
            name=text(form, "name"),
            user_id=optional_int(form, "owner_id"),
            scopes=[s for s in form.getlist("scopes") if isinstance(s, str)],
            expires_at=local_day(last_day, user.timezone, end=True) if last_day else None,
        )
    except Forbidden:
        raise
    except DomainError as exc:
        db.rollback()
        return redirect("/settings/tokens", error=exc.message)
    context = {
        **_tokens_context(db, user, show_all=token.user_id != user.id),
        "new_secret": secret,
        "new_token": token,
    }
    # The secret is shown on this response only; it is not stored anywhere readable.
    response = render(request, "settings/tokens.html", context, 201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(token_id: int, db: DbSession, user: CurrentUser) -> Response:
    try:
        token = tokens.revoke_token(db, token_id, by=user)
    except DomainError as exc:
        db.rollback()
        if isinstance(exc, Forbidden):
            raise
        return redirect("/settings/tokens", error=exc.message)
    return redirect("/settings/tokens", notice=f"Revoked token “{token.name}”.")


@router.get("/settings/service-accounts")
def service_accounts_page(request: Request, db: DbSession, admin: Admin) -> Response:
    context = {
        "accounts": accounts.list_service_accounts(db),
        "roles": [role.value for role in UserRole],
        "section": "service-accounts",
    }
    return render(request, "settings/service_accounts.html", context)


@router.post("/settings/service-accounts")
def create_service_account(db: DbSession, admin: Admin, form: Form) -> Response:
    back = "/settings/service-accounts"
    name = text(form, "name")
    return perform(
        db,
        back,
        lambda: accounts.create_service_account(db, name=name, role=text(form, "role")),
        notice=f"Service account “{name.strip()}” created; give it a token under API tokens.",
    )


@router.post("/settings/service-accounts/{account_id}")
def update_service_account(account_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    back = "/settings/service-accounts"
    changes: dict[str, Any] = {}
    if text(form, "role"):
        changes["role"] = text(form, "role")
    if text(form, "active"):
        changes["active"] = text(form, "active") == "true"

    def change() -> User:
        account = accounts.get_service_account(db, account_id)
        return accounts.update_service_account(db, account, changes)

    return perform(db, back, change, notice="Service account saved.")
