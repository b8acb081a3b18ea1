"""Login (password, then a code for those with a second factor), logout, the API tokens page
and the service accounts page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.audit.trail import Actor, record_apart
from tocsin.auth import accounts, sso, tokens, totp
from tocsin.auth import service as auth
from tocsin.auth.login import (
    PENDING_SECONDS,
    Client,
    Pending,
    log_in,
    log_in_with_code,
    must_enrol,
    pending_token,
    pending_vault,
    read_pending,
)
from tocsin.auth.scopes import DESCRIPTIONS, Scope
from tocsin.auth.throttle import LoginThrottled, Policy
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.deps import (
    SESSION_COOKIE,
    Admin,
    AppSettings,
    CurrentUser,
    DbSession,
    OptionalUser,
    client_address,
)
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


PENDING_COOKIE = "tocsin_pending"


def client_of(request: Request) -> Client:
    """Who is logging in: the network the throttle counts, the address and user agent kept."""
    return Client(
        network=request_network(request),
        address=client_address(request) or "",
        user_agent=request.headers.get("user-agent", "")[:300],
    )


def _refused(request: Request, email: str, reason: str, user_id: int | None = None) -> None:
    """A failed sign-in, in the audit trail: the email tried (never the password) and why.
    Its own transaction: the request's holds nothing worth keeping."""
    record_apart(
        request.app.state.sessionmaker,
        "auth.login_failed",
        actor=Actor(user_id, email[:254] or "anonymous", "anonymous", client_address(request)),
        outcome="refused",
        target_type="user" if user_id is not None else "",
        target_id=user_id,
        target=email[:254],
        detail={"email": email[:254], "reason": reason},
    )


def _signed_in(target: str, secret: str, settings: Settings) -> Response:
    return with_session(RedirectResponse(target, status_code=303), secret, settings)


def with_session(response: Response, secret: str, settings: Settings) -> Response:
    """`response` setting the new browser session's cookie (and ending a half-done two-step
    login): for every way of signing in, password or single sign-on."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_max_age_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(PENDING_COOKIE, path="/login")
    return response


@router.post("/login")
async def login(
    request: Request, db: DbSession, settings: AppSettings, form: Form, _csrf: CsrfChecked
) -> Response:
    """Cross-origin login posts are refused (CSRF). The database work and the password check
    run off the event loop (auth/login.py). A person with a second factor is asked for a code
    next (`/login/code`), holding a pending sign-in in a cookie, with no session yet."""
    email, password = text(form, "email"), text(form, "password")
    target = _safe_next(text(form, "next") or "/incidents")
    context: dict[str, Any] = {"next": target, "email": email}
    try:
        user, secret = await log_in(
            db,
            email=email,
            password=password,
            client=client_of(request),
            policy=Policy.from_settings(settings),
            max_age=timedelta(hours=settings.session_max_age_hours),
            require_two_factor=settings.require_two_factor_for_admins,
        )
    except LoginThrottled as exc:
        await run_in_threadpool(db.rollback)
        await run_in_threadpool(_refused, request, email, "throttled")
        # The sign-in buttons again; read off the event loop, like the rest of a login.
        context["providers"] = await run_in_threadpool(_providers, db)
        response = render(request, "login.html", {**context, "error": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        await run_in_threadpool(db.rollback)
        await run_in_threadpool(_refused, request, email, "wrong email or password")
        context["providers"] = await run_in_threadpool(_providers, db)
        return render(request, "login.html", {**context, "error": exc.message}, 400)
    if settings.password_login == "admins" and not user.can(UserRole.admin):
        # Told only once the password proved right: nobody learns who is an admin by guessing.
        # (The id is read before the rollback expires the user: reading it after would open a
        # transaction, and on SQLite take the write lock the record below waits for.)
        user_id = user.id
        await run_in_threadpool(db.rollback)
        await run_in_threadpool(_refused, request, email, "password sign-in is for admins", user_id)
        context["providers"] = await run_in_threadpool(_providers, db)
        message = (
            "password sign-in is for admins only here: sign in with your organisation's account"
        )
        return render(request, "login.html", {**context, "error": message}, 403)
    if secret is None:
        response = RedirectResponse("/login/code", status_code=303)
        response.set_cookie(
            PENDING_COOKIE,
            pending_token(pending_vault(settings), user, target),
            max_age=PENDING_SECONDS,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
            path="/login",
        )
        return response
    return _signed_in(target, secret, settings)


def _code_context(db: Session, settings: Settings, pending: Pending) -> dict[str, Any]:
    """The code step's page: an admin who must enrol first sees the QR code and key."""
    who = db.get(User, pending.user_id)
    if who is None or totp.enabled(db, who.id):
        return {}
    if not must_enrol(who, settings.require_two_factor_for_admins):
        return {}
    vault = totp.vault(settings)
    enrolment = totp.pending_enrolment(db, who, vault) or totp.start_enrolment(db, who, vault)
    return {"enrolment": enrolment}


@router.get("/login/code")
def code_page(
    request: Request, db: DbSession, settings: AppSettings, user: OptionalUser
) -> Response:
    if user is not None:
        return RedirectResponse("/incidents", status_code=303)
    pending = read_pending(pending_vault(settings), request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return redirect("/login", error="Your sign-in expired; log in again.")
    page = render(request, "auth/code.html", _code_context(db, settings, pending))
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/login/code")
def login_code(
    request: Request, db: DbSession, settings: AppSettings, form: Form, _csrf: CsrfChecked
) -> Response:
    """The second step: the code from the person's authenticator, or a recovery code."""
    pending = read_pending(pending_vault(settings), request.cookies.get(PENDING_COOKIE))
    if pending is None:
        _refused(request, "", "sign-in expired or forged")
        return redirect("/login", error="Your sign-in expired; log in again.")
    who = db.get(User, pending.user_id)
    email = who.email if who is not None else ""
    try:
        _, secret, codes = log_in_with_code(
            db,
            settings,
            pending=pending,
            code=text(form, "code"),
            client=client_of(request),
            policy=Policy.from_settings(settings),
            max_age=timedelta(hours=settings.session_max_age_hours),
        )
    except LoginThrottled as exc:
        db.rollback()
        _refused(request, email, "throttled (code)", pending.user_id)
        response = render(request, "auth/code.html", {"error": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        db.rollback()
        _refused(request, email, "wrong code", pending.user_id)
        context = {**_code_context(db, settings, pending), "error": exc.message}
        return render(request, "auth/code.html", context, 400)
    target = _safe_next(pending.next)
    if codes:  # an admin who just enrolled: the recovery codes, once, then on
        page = render(request, "auth/enrolled.html", {"recovery_codes": codes, "next": target})
        page.headers["Cache-Control"] = "no-store"
        return with_session(page, secret, settings)
    return _signed_in(target, secret, settings)


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
