"""API shapes for API tokens and browser sessions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tocsin.auth.models import ApiToken, WebSession
from tocsin.catalog.schemas import Id, Out, Strict, Timestamp, UserRef


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    user_id: Id | None = Field(default=None, description="Another user's id (admins only)")


class TokenOut(Out):
    """A token's metadata; never its secret."""

    id: int
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None
    user: UserRef


class TokenCreated(BaseModel):
    """A new token and its secret: the only time the secret is ever shown."""

    token: TokenOut
    secret: str


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token)


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
