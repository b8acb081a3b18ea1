"""JSON routes for API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tocsin.auth import service as auth
from tocsin.auth.schemas import TokenIn, token_out
from tocsin.catalog import service as catalog
from tocsin.catalog.models import UserRole
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["tokens"])


@router.get("/tokens")
def list_tokens(db: DbSession, user: CurrentUser, all: bool = False) -> dict[str, Any]:
    if all and not user.can(UserRole.admin):
        raise Forbidden("only admins can list everyone's tokens")
    tokens = auth.list_tokens(db, None if all else user)
    return {"items": [token_out(t) for t in tokens], "total": len(tokens)}


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    owner = user
    if body.user_id is not None and body.user_id != user.id:
        if not user.can(UserRole.admin):
            raise Forbidden("only admins can create tokens for other users")
        owner = catalog.get_user(db, body.user_id)
    token, secret = auth.create_api_token(db, owner, body.name)
    return {"token": token_out(token), "secret": secret}


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: int, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return token_out(auth.revoke_token(db, token_id, by=user))
