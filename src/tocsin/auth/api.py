"""JSON routes for API tokens, browser sessions and service accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tocsin.auth import accounts, sessions
from tocsin.auth import tokens as auth
from tocsin.auth.schemas import (
    ServiceAccountIn,
    ServiceAccountOut,
    ServiceAccountPatch,
    SessionOut,
    SessionsEnded,
    TokenCreated,
    TokenIn,
    TokenOut,
    account_out,
    session_out,
    token_out,
)
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import Page, window
from tocsin.deps import Admin, CallerToken, CurrentUser, DbSession
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["tokens"])
AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/tokens", response_model=Page[TokenOut], responses=errors(403))
def list_tokens(
    db: DbSession,
    user: CurrentUser,
    all: Annotated[bool, Query(description="Everyone's tokens (admins only)")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict:
    """Your API tokens, newest first; secrets are never listed."""
    tokens = auth.tokens_visible_to(db, user, everyone=all)
    return window([token_out(t) for t in tokens], limit, offset)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=errors(404))
def create_token(
    body: TokenIn, db: DbSession, user: CurrentUser, caller: CallerToken
) -> TokenCreated:
    """A new token; its secret is in this answer and never again. A token creating one
    cannot give it scopes it lacks, nor let it outlive itself."""
    token, secret = auth.issue_api_token(
        db,
        by=user,
        name=body.name,
        user_id=body.user_id,
        scopes=body.scopes,
        expires_at=body.expires_at,
        within=caller,
    )
    return TokenCreated(token=token_out(token), secret=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: DbSession, user: CurrentUser
) -> TokenOut:
    """Revoke a token (yours, or anyone's for an admin); it stops working at once."""
    return token_out(auth.revoke_token(db, token_id, by=user))


SessionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _current(request: Request) -> int | None:
    return getattr(request.state, "web_session_id", None)


@router.get("/me/sessions", response_model=list[SessionOut], tags=["sessions"])
def my_sessions(request: Request, db: DbSession, user: CurrentUser) -> list[SessionOut]:
    """Your browser sessions that have not expired, most recently used first."""
    current = _current(request)
    return [session_out(web, current) for web in sessions.active_sessions(db, user)]


@router.delete(
    "/me/sessions/{session_id}", response_model=SessionOut, tags=["sessions"], responses=errors(404)
)
def end_my_session(
    request: Request, session_id: SessionId, db: DbSession, user: CurrentUser
) -> SessionOut:
    """Sign out one of your sessions; it stops working at once."""
    return session_out(sessions.revoke(db, user, session_id, by=user), _current(request))


@router.delete("/me/sessions", response_model=SessionsEnded, tags=["sessions"])
def end_my_other_sessions(request: Request, db: DbSession, user: CurrentUser) -> SessionsEnded:
    """Sign out everywhere else: every session but the one this request came with (with an
    API token, every session)."""
    keep = _current(request)
    ended = sessions.revoke_all(db, user, by=user, keep=keep, why="signed out everywhere else")
    return SessionsEnded(ended=ended)


@router.get(
    "/users/{user_id}/sessions",
    response_model=list[SessionOut],
    tags=["sessions"],
    responses=errors(404),
)
def user_sessions(user_id: UserId, db: DbSession, admin: Admin) -> list[SessionOut]:
    """Someone's browser sessions (admins only)."""
    owner = catalog.get_user(db, user_id)
    return [session_out(web, None) for web in sessions.active_sessions(db, owner)]


@router.delete(
    "/users/{user_id}/sessions",
    response_model=SessionsEnded,
    tags=["sessions"],
    responses=errors(404),
)
def end_user_sessions(user_id: UserId, db: DbSession, admin: Admin) -> SessionsEnded:
    """End every session of someone (admins only): a lost laptop, someone leaving."""
    owner = catalog.get_user(db, user_id)
    return SessionsEnded(ended=sessions.revoke_all(db, owner, by=admin, why="ended by an admin"))


@router.get(
    "/service-accounts",
    response_model=list[ServiceAccountOut],
    responses=errors(403),
    tags=["service accounts"],
)
def list_service_accounts(db: DbSession, admin: Admin) -> list[ServiceAccountOut]:
    """Every service account, active first (admins only)."""
    return [account_out(a) for a in accounts.list_service_accounts(db)]


@router.post(
    "/service-accounts",
    status_code=201,
    response_model=ServiceAccountOut,
    responses=errors(403),
    tags=["service accounts"],
)
def create_service_account(
    body: ServiceAccountIn, db: DbSession, admin: Admin
) -> ServiceAccountOut:
    """A new service account; give it tokens with POST /api/v1/tokens and its `user_id`."""
    return account_out(accounts.create_service_account(db, name=body.name, role=body.role))


@router.get(
    "/service-accounts/{account_id}",
    response_model=ServiceAccountOut,
    responses=errors(403, 404),
    tags=["service accounts"],
)
def get_service_account(account_id: AccountId, db: DbSession, admin: Admin) -> ServiceAccountOut:
    return account_out(accounts.get_service_account(db, account_id))


@router.patch(
    "/service-accounts/{account_id}",
    response_model=ServiceAccountOut,
    responses=errors(403, 404),
    tags=["service accounts"],
)
def update_service_account(
    account_id: AccountId, body: ServiceAccountPatch, db: DbSession, admin: Admin
) -> ServiceAccountOut:
    """Rename, change the role, or deactivate (`active: false`: its tokens are refused)."""
    account = accounts.get_service_account(db, account_id)
    changes = body.model_dump(exclude_unset=True)
    return account_out(accounts.update_service_account(db, account, changes))
