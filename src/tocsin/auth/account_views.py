"""A person's own account (docs/accounts.md): forgotten password, the Security page (password,
two-factor, sessions), and an admin's help (a reset link, a second factor reset, sessions
ended)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.audit.trail import Actor, acting, record_apart
from tocsin.auth import reset, sessions, throttle, totp
from tocsin.auth.login import must_enrol
from tocsin.auth.passwords import verify_password
from tocsin.auth.throttle import LoginThrottled, Policy
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, OptionalUser, client_address
from tocsin.errors import DomainError, ValidationFailed
from tocsin.web.actions import perform
from tocsin.web.clients import request_network
from tocsin.web.csrf import CsrfChecked
from tocsin.web.forms import Form, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

SECURITY = "/me/security"
SENT = (
    "If an account has that address, a link to choose a new password is on its way. "
    "It works once, for {minutes} minutes."
)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- a forgotten password ------------------------------------------------------------------


@router.get("/forgot")
def forgot_page(request: Request, user: OptionalUser) -> Response:
    return render(request, "auth/forgot.html", {"email": ""})


@router.post("/forgot")
def forgot(
    request: Request, db: DbSession, settings: AppSettings, form: Form, _csrf: CsrfChecked
) -> Response:
    """The same answer whether or not an account has the address; throttled (429) alike."""
    email = text(form, "email")
    acting(db, Actor(None, email[:254] or "anonymous", "anonymous", client_address(request)))
    try:
        reset.request_reset(db, settings, email=email, network=request_network(request))
    except LoginThrottled as exc:
        db.rollback()
        response = render(request, "auth/forgot.html", {"email": email, "error": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    notice = SENT.format(minutes=settings.password_reset_minutes)
    return render(request, "auth/forgot.html", {"email": "", "sent": notice})


@router.get("/reset/{token}")
def reset_page(request: Request, token: str, db: DbSession) -> Response:
    state = reset.look_up(db, token)
    if state.problem is not None:
        page = render(request, "auth/reset.html", {"problem": state.problem}, state.status_code)
        return _no_store(page)
    return _no_store(render(request, "auth/reset.html", {"token": token}))


@router.post("/reset/{token}")
def reset_password(
    request: Request, token: str, db: DbSession, form: Form, _csrf: CsrfChecked
) -> Response:
    """Set the new password through the link: it works once; every session of the person ends."""
    acting(db, Actor(None, "password reset link", "anonymous", client_address(request)))
    state = reset.look_up(db, token, lock=True)
    if state.problem is not None or state.reset is None:
        db.rollback()
        _refusal(request, "auth.password_reset_refused", state.problem or "")
        page = render(request, "auth/reset.html", {"problem": state.problem}, state.status_code)
        return _no_store(page)
    password = text(form, "password")
    try:
        if password != text(form, "confirm"):
            raise ValidationFailed("the two passwords differ", field="confirm")
        reset.complete_reset(db, state.reset, password)
    except DomainError as exc:
        db.rollback()
        page = render(request, "auth/reset.html", {"token": token, "error": exc.message}, 422)
        return _no_store(page)
    return redirect("/login", notice="Your password is changed. Log in with it.")


def _refusal(request: Request, action: str, reason: str) -> None:
    record_apart(
        request.app.state.sessionmaker,
        action,
        actor=Actor(None, "password reset link", "anonymous", client_address(request)),
        outcome="refused",
        detail={"reason": reason},
    )


# --- the Security page ---------------------------------------------------------------------


def _security(
    request: Request, db: Session, settings: Settings, user: User, **extra: Any
) -> Response:
    vault = totp.vault(settings)
    context = {
        "section": "security",
        "two_factor": totp.two_factor(db, user),
        "enrolment": totp.pending_enrolment(db, user, vault),
        "codes_left": totp.recovery_codes_left(db, user),
        "sessions": sessions.active_sessions(db, user),
        "current_session": getattr(request.state, "web_session_id", None),
        **extra,
    }
    return _no_store(render(request, "auth/security.html", context))


@router.get(SECURITY)
def security_page(
    request: Request, db: DbSession, settings: AppSettings, user: CurrentUser
) -> Response:
    return _security(request, db, settings, user)


@router.post("/me/password")
def change_password(
    request: Request, db: DbSession, settings: AppSettings, user: CurrentUser, form: Form
) -> Response:
    """A new password, given the current one; the person's other sessions end. Wrong current
    passwords are counted like failed logins, so a borrowed session cannot guess through it."""
    current, new = text(form, "current"), text(form, "password")
    try:
        attempt = throttle.admit(
            db, Policy.from_settings(settings), network=request_network(request), email=user.email
        )
    except LoginThrottled as exc:
        db.rollback()
        return redirect(SECURITY + "#password", error=exc.message)
    db.commit()  # counted, whatever the check finds
    if not verify_password(user.password_hash, current):
        return redirect(SECURITY + "#password", error="Your current password is not right.")
    throttle.succeeded(db, attempt)

    def change() -> int:
        if new != text(form, "confirm"):
            raise ValidationFailed("the two new passwords differ", field="confirm")
        keep = getattr(request.state, "web_session_id", None)
        return reset.change_password(db, user, new, keep_session=keep)

    return perform(db, SECURITY, change, notice="Password changed; your other sessions ended.")


@router.post("/me/two-factor/start")
def start_two_factor(db: DbSession, settings: AppSettings, user: CurrentUser) -> Response:
    return perform(
        db, SECURITY + "#two-factor", lambda: totp.start_enrolment(db, user, totp.vault(settings))
    )


@router.post("/me/two-factor/confirm")
def confirm_two_factor(
    request: Request, db: DbSession, settings: AppSettings, user: CurrentUser, form: Form
) -> Response:
    """The first code from the app turns two-factor on; the recovery codes are shown once."""
    try:
        codes = totp.confirm(db, user, totp.vault(settings), text(form, "code"))
    except DomainError as exc:
        db.rollback()
        return redirect(SECURITY + "#two-factor", error=exc.message)
    return _security(request, db, settings, user, recovery_codes=codes)


@router.post("/me/two-factor/recovery-codes")
def renew_recovery_codes(
    request: Request, db: DbSession, settings: AppSettings, user: CurrentUser
) -> Response:
    try:
        codes = totp.regenerate_recovery_codes(db, user)
    except DomainError as exc:
        db.rollback()
        return redirect(SECURITY + "#two-factor", error=exc.message)
    return _security(request, db, settings, user, recovery_codes=codes)


@router.post("/me/two-factor/off")
def turn_off_two_factor(
    request: Request, db: DbSession, settings: AppSettings, user: CurrentUser, form: Form
) -> Response:
    """Turning two-factor off needs the password or a code; wrong ones are counted like a
    login's (kind "code"), so a borrowed session cannot guess its way through."""
    password, code = text(form, "password"), text(form, "code")
    if must_enrol(user, settings.require_two_factor_for_admins):
        return redirect(
            SECURITY + "#two-factor", error="Admins of this Tocsin must keep two-factor on."
        )
    try:
        attempt = throttle.admit(
            db,
            Policy.from_settings(settings),
            network=request_network(request),
            email=user.email,
            kind="code",
        )
    except LoginThrottled as exc:
        db.rollback()
        return redirect(SECURITY + "#two-factor", error=exc.message)
    db.commit()  # counted, whatever the check finds
    right = (bool(password) and verify_password(user.password_hash, password)) or (
        bool(code) and totp.check(db, user, totp.vault(settings), code) is not None
    )
    if not right:
        db.rollback()
        return redirect(
            SECURITY + "#two-factor", error="Give your password or a current code to turn it off."
        )
    throttle.succeeded(db, attempt)
    return perform(
        db,
        SECURITY + "#two-factor",
        lambda: totp.turn_off(db, user, by=user),
        notice="Two-factor authentication is off.",
    )


@router.post("/me/sessions/{session_id}/revoke")
def revoke_session(session_id: int, db: DbSession, user: CurrentUser) -> Response:
    return perform(
        db,
        SECURITY + "#sessions",
        lambda: sessions.revoke(db, user, session_id, by=user),
        notice="That session is signed out.",
    )


@router.post("/me/sessions/revoke-others")
def revoke_other_sessions(request: Request, db: DbSession, user: CurrentUser) -> Response:
    keep = getattr(request.state, "web_session_id", None)
    return perform(
        db,
        SECURITY + "#sessions",
        lambda: sessions.revoke_all(db, user, by=user, keep=keep, why="signed out everywhere else"),
        notice="Signed out everywhere else.",
    )


# --- an admin's help -----------------------------------------------------------------------


@router.post("/settings/users/{user_id}/send-reset")
def send_reset(user_id: int, db: DbSession, settings: AppSettings, admin: Admin) -> Response:
    def send() -> None:
        reset.send_reset(db, settings, catalog.get_user(db, user_id), by=admin)

    return perform(db, "/settings/users", send, notice="Password reset link sent.")


@router.post("/settings/users/{user_id}/reset-two-factor")
def reset_two_factor(user_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/users",
        lambda: totp.turn_off(db, catalog.get_user(db, user_id), by=admin),
        notice="Their second factor is removed; they can enrol again.",
    )


@router.post("/settings/users/{user_id}/end-sessions")
def end_sessions(request: Request, user_id: int, db: DbSession, admin: Admin) -> Response:
    def end() -> int:
        owner = catalog.get_user(db, user_id)
        # An admin ending their own sessions here keeps the one they are using.
        keep = getattr(request.state, "web_session_id", None) if owner.id == admin.id else None
        return sessions.revoke_all(db, owner, by=admin, keep=keep, why="ended by an admin")

    return perform(db, "/settings/users", end, notice="Their sessions are ended.")


@router.get("/me/sessions")
def my_sessions() -> Response:
    return RedirectResponse(SECURITY + "#sessions", status_code=303)
