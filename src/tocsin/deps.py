"""Request dependencies shared by every HTTP route: the unit of work and the current user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tocsin.audit.trail import Actor, acting
from tocsin.auth import service as auth
from tocsin.auth import tokens
from tocsin.auth.models import ApiToken
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.errors import Forbidden, Unauthenticated
from tocsin.web.clients import request_network
from tocsin.web.csrf import check_csrf

SESSION_COOKIE = "tocsin_session"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the route returns, before the response."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        # Detach first so that error pages can still read the user loaded for this request
        # (a rollback would expire it, and the session is about to close).
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit above runs before the response is sent, so a 2xx means
# the change is durable.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def client_address(request: Request) -> str | None:
    """The client's address, as the audit trail records it (behind a reverse proxy, the
    visitor's only if uvicorn trusts the proxy: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else None


def optional_user(request: Request, db: DbSession) -> User | None:
    """The caller: from an API token (Authorization: Bearer) or a browser session cookie.
    The caller is who acts in the request's audit records."""
    secret = _bearer(request)
    if secret is not None:
        # Refused unless live and scoped for this request (auth/scopes.py), and recorded;
        # the token (and its owner) is who acts.
        try:
            token = tokens.use_api_token(
                db,
                secret,
                method=request.method,
                path=request.url.path,
                network=request_network(request),
                address=client_address(request),
            )
        except tokens.TokenRefused as refused:
            db.rollback()  # nothing to keep, and SQLite's write lock is free for the record
            tokens.record_refusal(request.app.state.sessionmaker, refused)
            raise refused.error from None
        request.state.auth_via = "token"
        request.state.api_token = token
        return token.user
    web = auth.web_session(db, request.cookies.get(SESSION_COOKIE))
    if web is None:
        return None
    request.state.auth_via = "session"
    request.state.csrf_token = web.csrf_token
    request.state.web_session_id = web.id
    request.state.user = web.user
    acting(db, Actor(web.user.id, web.user.email, "session", client_address(request)))
    return web.user


async def current_user(
    request: Request, user: Annotated[User | None, Depends(optional_user)]
) -> User:
    """The logged-in caller; unsafe requests from a browser session must pass the CSRF check."""
    if user is None:
        raise Unauthenticated("log in or send an API token (Authorization: Bearer tcs_...)")
    request.state.user = user
    await check_csrf(request)
    return user


def _require(role: UserRole) -> Callable[[User], User]:
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.can(role):
            raise Forbidden(f"this needs the {role.value} role; you are a {user.role}")
        return user

    return check


def caller_token(
    request: Request, user: Annotated[User | None, Depends(optional_user)]
) -> ApiToken | None:
    """The API token the request came with (None for a browser session)."""
    token: ApiToken | None = getattr(request.state, "api_token", None)
    return token


OptionalUser = Annotated[User | None, Depends(optional_user)]
CallerToken = Annotated[ApiToken | None, Depends(caller_token)]
CurrentUser = Annotated[User, Depends(current_user)]
Responder = Annotated[User, Depends(_require(UserRole.responder))]
Admin = Annotated[User, Depends(_require(UserRole.admin))]
