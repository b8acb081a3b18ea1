"""API shapes for API tokens, browser sessions and service accounts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tocsin.auth.models import ApiToken, WebSession
from tocsin.auth.scopes import parse, render
from tocsin.catalog.models import User
from tocsin.catalog.schemas import (
    Aware,
    Id,
    Name,
    Out,
    Strict,
    Timestamp,
    UserRef,
    UserRoleName,
    omittable,
)

ScopeName = Literal["read", "incidents", "configuration", "ingestion"]


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    user_id: Id | None = Field(
        default=None, description="Another user's or a service account's id (admins only)"
    )
    scopes: list[ScopeName] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="What the token may do (docs/api.md); every scope if left out (a token "
        "creating a token: its own scopes)",
    )
    expires_at: Aware | None = Field(default=None, description="When it stops working")


class TokenOut(Out):
    """A token's metadata; never its secret."""

    id: int
    name: str
    prefix: str
    scopes: list[ScopeName]
    created_at: Timestamp
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    last_used_address: str | None
    revoked_at: Timestamp | None
    user: UserRef


class TokenCreated(BaseModel):
    """A new token and its secret: the only time the secret is ever shown."""

    token: TokenOut
    secret: str


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        scopes=render(parse(token.scopes)).split(),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        last_used_address=token.last_used_address,
        revoked_at=token.revoked_at,
        user=UserRef.model_validate(token.user),
    )


class ServiceAccountIn(Strict):
    name: Name
    role: UserRoleName = "viewer"


class ServiceAccountPatch(Strict):
    name: Name = omittable()
    role: UserRoleName = omittable()
    active: bool = omittable()


class ServiceAccountOut(Out):
    """A service account: a user that is not a person, acting through its tokens."""

    id: int
    name: str
    role: UserRoleName
    active: bool
    created_at: Timestamp


def account_out(account: User) -> ServiceAccountOut:
    return ServiceAccountOut.model_validate(account)


class SessionOut(Out):
    """A browser session: where it was opened and when it was last used; never its secret."""

    id: int
    created_at: Timestamp
    last_seen_at: Timestamp | None
    expires_at: Timestamp
    address: str
    user_agent: str
    current: bool = Field(default=False, description="The session this request came with")


class SessionsEnded(BaseModel):
    ended: int


def session_out(web: WebSession, current: int | None) -> SessionOut:
    out = SessionOut.model_validate(web)
    out.current = web.id == current
    return out
