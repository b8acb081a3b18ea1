"""JSON routes for API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tocsin.auth import service as auth
from tocsin.auth.schemas import TokenCreated, TokenIn, TokenOut, token_out
from tocsin.catalog.schemas import Page, window
from tocsin.deps import CurrentUser, DbSession
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["tokens"])


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
def create_token(body: TokenIn, db: DbSession, user: CurrentUser) -> TokenCreated:
    """A new token; its secret is in this answer and never again."""
    token, secret = auth.issue_api_token(db, by=user, name=body.name, user_id=body.user_id)
    return TokenCreated(token=token_out(token), secret=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: DbSession, user: CurrentUser
) -> TokenOut:
    """Revoke a token (yours, or anyone's for an admin); it stops working at once."""
    return token_out(auth.revoke_token(db, token_id, by=user))
