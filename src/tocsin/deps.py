"""Request dependencies shared by every HTTP route: the unit of work and the current user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tocsin.audit.trail import Actor, acting
from tocsin.auth import service as auth
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.errors import Forbidden, Unauthenticated
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
    token = _bearer(request)
    if token is not None:
        user = auth.user_for_api_token(db, token)
        request.state.auth_via = "token"
        acting(db, Actor(user.id, user.email, "token", client_address(request)))
        return user
    web = auth.web_session(db, request.cookies.get(SESSION_COOKIE))
    if web is None:
        return None
    request.state.auth_via = "session"
    request.state.csrf_token = web.csrf_token
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


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
Responder = Annotated[User, Depends(_require(UserRole.responder))]
Admin = Annotated[User, Depends(_require(UserRole.admin))]
