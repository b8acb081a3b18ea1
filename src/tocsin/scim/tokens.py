"""The bearer tokens identity providers provision with. An admin creates one (its secret
shown once, only a hash stored) and can revoke it; a revoked token is refused at once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import NotFound
from tocsin.scim.errors import ScimError
from tocsin.scim.models import ScimToken

TOKEN_PREFIX = "scim_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, *, by: User, name: str) -> tuple[ScimToken, str]:
    """A new SCIM token; the secret is returned once and never stored."""
    name = v.text(name, "name", max_len=120, required=True)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken(
        name=name, prefix=secret[:10], token_hash=_digest(secret), created_by_id=by.id
    )
    session.add(token)
    session.flush()
    record(
        session,
        "scim.token_created",
        target_type="scim_token",
        target_id=token.id,
        target=name,
        detail={"name": name, "prefix": token.prefix},
    )
    return token, secret


def list_tokens(session: Session) -> list[ScimToken]:
    return list(session.scalars(select(ScimToken).order_by(ScimToken.id.desc())))


def revoke_token(session: Session, token_id: int) -> ScimToken:
    """Revoke a SCIM token; the identity provider using it is refused from now on."""
    token = session.get(ScimToken, token_id)
    if token is None:
        raise NotFound(f"no SCIM token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session,
            "scim.token_revoked",
            target_type="scim_token",
            target_id=token.id,
            target=token.name,
            detail={"prefix": token.prefix},
        )
    session.flush()
    return token


def authenticate(session: Session, secret: str | None) -> ScimToken:
    """The live token `secret` is; ScimError 401 otherwise."""
    token = None
    if secret:
        token = session.scalar(select(ScimToken).where(ScimToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None:
        raise ScimError(401, None, "send a valid SCIM token: Authorization: Bearer scim_...")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token
