"""API shapes for API tokens."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.auth.models import ApiToken
from tocsin.catalog.schemas import user_ref


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    user_id: int | None = None


def token_out(token: ApiToken) -> dict[str, Any]:
    """A token's metadata; never its secret."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "user": user_ref(token.user),
    }
