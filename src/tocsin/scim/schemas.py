"""API shapes for SCIM tokens (Tocsin's own JSON API, not SCIM's)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Name, Out, Strict, Timestamp
from tocsin.scim.models import ScimToken


class ScimTokenIn(Strict):
    name: Name = Field(description="e.g. the identity provider")


class ScimTokenOut(Out):
    """A SCIM token's metadata; never its secret."""

    id: int
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class ScimTokenCreated(BaseModel):
    """A new SCIM token and its secret: the only time the secret is shown."""

    token: ScimTokenOut
    secret: str
    base_url: str = Field(description="What to give the identity provider as the SCIM URL")


def token_out(token: ScimToken) -> ScimTokenOut:
    return ScimTokenOut.model_validate(token)
