"""Login, logout and the API tokens page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.auth import service as auth
from tocsin.auth import sso
from tocsin.auth.login import log_in
from tocsin.auth.throttle import LoginThrottled, Policy
from tocsin.catalog.models import UserRole
from tocsin.deps import SESSION_COOKIE, AppSettings, CurrentUser, DbSession, OptionalUser
from tocsin.errors import DomainError, Forbidden, Unauthenticated
from tocsin.web.clients import request_network
from tocsin.web.csrf import CsrfChecked
from tocsin.web.forms import Form, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(value: str) -> str:
    """Only local paths: never an open redirect to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/incidents"


@router.get("/login")
def login_page(
    request: Request, db: DbSession, user: OptionalUser, next: str = "/incidents"
) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    context = {"next": _safe_next(next), "email": "", "providers": _providers(db)}
    return render(request, "login.html", context)


def _providers(db: Session) -> list[Any]:
    """The identity providers the login page offers ("Sign in with …")."""
    return sso.list_providers(db, enabled_only=True)


@router.post("/login")
async def login(
    request: Request, db: DbSession, settings: AppSettings, form: Form, _csrf: CsrfChecked
) -> Response:
    """Cross-origin login posts are refused (CSRF). The database work and the password check
    run off the event loop (auth/login.py)."""
    email, password = text(form, "email"), text(form, "password")
    target = _safe_next(text(form, "next") or "/incidents")
    context: dict[str, Any] = {"next": target, "email": email}
    try:
        user, secret = await log_in(
            db,
            email=email,
            password=password,
            network=request_network(request),
            policy=Policy.from_settings(settings),
            max_age=timedelta(hours=settings.session_max_age_hours),
        )
    except LoginThrottled as exc:
        context["providers"] = await run_in_threadpool(_providers, db)
        response = render(request, "login.html", {**context, "error": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        # The sign-in buttons again; read off the event loop, like the rest of a login.
        context["providers"] = await run_in_threadpool(_providers, db)
        return render(request, "login.html", {**context, "error": exc.message}, 400)
    if settings.password_login == "admins" and not user.can(UserRole.admin):
        # Told only once the password proved right: nobody learns who is an admin by guessing.
        await run_in_threadpool(db.rollback)
        context["providers"] = await run_in_threadpool(_providers, db)
        message = (
            "password sign-in is for admins only here: sign in with your organisation's account"
        )
        return render(request, "login.html", {**context, "error": message}, 403)
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


@router.get("/settings/tokens")
def tokens_page(request: Request, db: DbSession, user: CurrentUser, all: bool = False) -> Response:
    show_all = all and user.can(UserRole.admin)
    context: dict[str, Any] = {
        "tokens": auth.list_tokens(db, None if show_all else user),
        "show_all": show_all,
        "section": "tokens",
    }
    return render(request, "settings/tokens.html", context)


@router.post("/settings/tokens")
def create_token(request: Request, db: DbSession, user: CurrentUser, form: Form) -> Response:
    try:
        token, secret = auth.create_api_token(db, user, text(form, "name"))
    except DomainError as exc:
        db.rollback()
        return redirect("/settings/tokens", error=exc.message)
    context = {
        "tokens": auth.list_tokens(db, user),
        "show_all": False,
        "section": "tokens",
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
        token = auth.revoke_token(db, token_id, by=user)
    except DomainError as exc:
        db.rollback()
        if isinstance(exc, Forbidden):
            raise
        return redirect("/settings/tokens", error=exc.message)
    return redirect("/settings/tokens", notice=f"Revoked token “{token.name}”.")
