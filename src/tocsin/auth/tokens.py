"""API tokens: created with scopes and an optional expiry, checked on every use, revoked. Only
the SHA-256 of a secret is stored. Creating, revoking, the first use from a new network and
every refusal are in the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from tocsin import validation as v
from tocsin.audit.trail import Actor, acting, record, record_apart
from tocsin.auth import scopes as sc
from tocsin.auth.models import ApiToken, ApiTokenAddress
from tocsin.catalog.models import User, UserRole
from tocsin.db import utcnow
from tocsin.errors import DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed

TOKEN_PREFIX = "tcs_"
# Record last use at most this often, so API reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# The networks remembered per token; past that the oldest is forgotten.
MAX_ADDRESSES = 50
# The longest a token may live, when it expires at all.
MAX_LIFETIME = timedelta(days=3 * 366)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_label(user: User) -> str:
    """How the audit trail names a user: a person by email, a service account by name."""
    return user.email if user.is_person else f"{user.name} (service account)"


def token_actor(token: ApiToken, address: str | None) -> Actor:
    return Actor(token.user.id, actor_label(token.user), "token", address, token.id)


def scopes_of(token: ApiToken) -> frozenset[sc.Scope]:
    return sc.parse(token.scopes)


def _scopes(value: Iterable[str] | None, within: ApiToken | None) -> frozenset[sc.Scope]:
    if value is None:
        wanted = set(sc.ALL_SCOPES) if within is None else set(scopes_of(within))
    else:
        wanted = set()
        for item in value:
            if item not in sc.Scope.__members__:
                allowed = ", ".join(s.value for s in sc.Scope)
                raise ValidationFailed(
                    f"unknown scope {str(item)[:40]!r}; choose from {allowed}", field="scopes"
                )
            wanted.add(sc.Scope(item))
    if not wanted:
        raise ValidationFailed("a token needs at least one scope", field="scopes")
    if within is not None and not wanted <= scopes_of(within):
        missing = ", ".join(sorted(wanted - scopes_of(within)))
        raise Forbidden(f"a token cannot create a token with scopes it lacks ({missing})")
    return frozenset(wanted)


def _expiry(expires_at: datetime | None, within: ApiToken | None, now: datetime) -> datetime | None:
    if expires_at is not None:
        checked = v.aware(expires_at, "expires_at")
        assert checked is not None
        if checked <= now:
            raise ValidationFailed("the expiry must be in the future", field="expires_at")
        if checked > now + MAX_LIFETIME:
            raise ValidationFailed("a token can live three years at most", field="expires_at")
        expires_at = checked
    # A token cannot outlive the token that made it.
    limit = within.expires_at if within is not None else None
    if limit is not None and (expires_at is None or expires_at > limit):
        expires_at = limit
    return expires_at


def create_api_token(
    session: Session,
    user: User,
    name: str,
    *,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    within: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """A new API token owned by `user`, with these scopes (all by default; never more than
    `within`'s, the token making this one, nor outliving it); the plaintext is returned once
    and never stored."""
    name = v.text(name, "name", max_len=120, required=True)
    if not user.active:
        raise ValidationFailed(f"{user.name} is deactivated", field="user_id")
    now = utcnow()
    granted = _scopes(scopes, within)
    expiry = _expiry(expires_at, within, now)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:10],
        token_hash=_digest(secret),
        user=user,
        scopes=sc.render(granted),
        expires_at=expiry,
        created_at=now,
    )
    session.add(token)
    session.flush()
    record(
        session,
        "token.created",
        target_type="api_token",
        target_id=token.id,
        target=name,
        detail={
            "name": name,
            "prefix": token.prefix,
            "scopes": sorted(granted),
            "owner_id": user.id,
            "owner": actor_label(user),
            "expires_at": expiry.isoformat() if expiry else None,
        },
    )
    return token, secret


def issue_api_token(
    session: Session,
    *,
    by: User,
    name: str,
    user_id: int | None = None,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    within: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """A token for yourself, or (admins only) for another user or a service account; the
    secret is returned once."""
    owner = by
    if user_id is not None and user_id != by.id:
        if not by.can(UserRole.admin):
            raise Forbidden("only admins can create tokens for other users")
        other = session.get(User, user_id)
        if other is None:
            raise NotFound(f"no user with id {user_id}", field="user_id")
        owner = other
    return create_api_token(
        session, owner, name, scopes=scopes, expires_at=expires_at, within=within
    )


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query).all())


def tokens_visible_to(session: Session, by: User, *, everyone: bool = False) -> list[ApiToken]:
    """Your own tokens; everyone's if you ask and are an admin."""
    if everyone and not by.can(UserRole.admin):
        raise Forbidden("only admins can list everyone's tokens")
    return list_tokens(session, None if everyone else by)


def revoke_token(session: Session, token_id: int, *, by: User) -> ApiToken:
    """Revoke a token: your own, or anyone's if you are an admin."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != by.id and not by.can(UserRole.admin)):
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session,
            "token.revoked",
            target_type="api_token",
            target_id=token.id,
            target=token.name,
            detail={
                "name": token.name,
                "prefix": token.prefix,
                "owner_id": token.user_id,
                "owner": actor_label(token.user),
            },
        )
    session.flush()
    return token


def revoke_all_of(session: Session, user: User) -> int:
    """Revoke every live token of `user` (a deactivated service account); how many."""
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        revoke_token(session, token.id, by=token.user)
    return len(live)


class TokenRefused(Exception):
    """A known token refused: `error` is the answer; the caller rolls its transaction back
    and records `token.refused` with `fields` apart (`record_refusal`)."""

    def __init__(self, error: DomainError, actor: Actor, fields: dict[str, Any]) -> None:
        super().__init__(error.message)
        self.error = error
        self.actor = actor
        self.fields = fields


def _refusal(
    error: DomainError,
    token: ApiToken,
    actor: Actor,
    *,
    reason: str,
    method: str,
    path: str,
    scope: str | None = None,
) -> TokenRefused:
    fields = {
        "target_type": "api_token",
        "target_id": token.id,
        "target": token.name,
        "detail": {"reason": reason, "scope_needed": scope, "method": method, "path": path[:200]},
        "outcome": "refused",
    }
    return TokenRefused(error, actor, fields)


def record_refusal(factory: sessionmaker[Session], refused: TokenRefused) -> None:
    """Record a refusal in a transaction of its own. The request's transaction must be over
    first (on SQLite it may hold the one write lock)."""
    record_apart(factory, "token.refused", actor=refused.actor, **refused.fields)


def use_api_token(
    session: Session,
    secret: str,
    *,
    method: str,
    path: str,
    network: str,
    address: str | None,
    now: datetime | None = None,
) -> ApiToken:
    """The token `secret` names, allowed to make this request: Unauthenticated (401) if it is
    unknown; TokenRefused, carrying a 401 or a 403 to answer, if it is revoked, expired, its
    owner deactivated, or it lacks the scope the request needs (auth/scopes.py). On success
    the token is who acts in `session` and the use is noted."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None:
        raise Unauthenticated("invalid or revoked API token")
    now = now or utcnow()
    actor = token_actor(token, address)
    asked = {"method": method, "path": path}
    if token.revoked_at is not None or not token.user.active:
        error: DomainError = Unauthenticated("invalid or revoked API token")
        raise _refusal(error, token, actor, reason="revoked", **asked)
    if token.expires_at is not None and token.expires_at <= now:
        error = Unauthenticated(f"this API token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC")
        raise _refusal(error, token, actor, reason="expired", **asked)
    try:
        needed = sc.needed(method, path)
    except sc.Unclassified:
        error = Forbidden(f"API tokens cannot make this request ({method} {path})")
        raise _refusal(error, token, actor, reason="unclassified", **asked) from None
    if needed is None:
        error = Forbidden("API tokens can only change things through /api/v1")
        raise _refusal(error, token, actor, reason="not the API", **asked)
    if needed not in scopes_of(token):
        error = Forbidden(
            f"this API token lacks the “{needed.value}” scope, which {method} {path} needs"
        )
        raise _refusal(error, token, actor, reason="scope", scope=needed.value, **asked)
    acting(session, actor)
    _note_use(session, token, network, now)
    return token


def _note_use(session: Session, token: ApiToken, network: str, now: datetime) -> None:
    """Last use (at most once per LAST_USED_RESOLUTION from the usual network) and, the first
    time the token comes from a network, a `token.new_address` record. From the network of
    its last use this costs no query; from another, one lookup by primary key."""
    if network != token.last_used_address:
        known = session.get(ApiTokenAddress, (token.id, network))
        if known is None and _remember(session, token, network, now):
            record(
                session,
                "token.new_address",
                target_type="api_token",
                target_id=token.id,
                target=token.name,
                detail={"network": network, "previous": token.last_used_address},
            )
        token.last_used_address = network
        token.last_used_at = now
    elif token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now


def _remember(session: Session, token: ApiToken, network: str, now: datetime) -> bool:
    """Store `network` for `token`; False if a concurrent request stored it first."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(ApiTokenAddress)
        .values(token_id=token.id, network=network, first_seen=now)
        .on_conflict_do_nothing(index_elements=["token_id", "network"])
        .returning(ApiTokenAddress.network)
    ).scalar()
    if inserted is None:
        return False
    kept = (
        select(ApiTokenAddress.network)
        .where(ApiTokenAddress.token_id == token.id)
        .order_by(ApiTokenAddress.first_seen.desc(), ApiTokenAddress.network)
        .limit(MAX_ADDRESSES)
    )
    session.execute(
        delete(ApiTokenAddress)
        .where(ApiTokenAddress.token_id == token.id, ApiTokenAddress.network.not_in(kept))
        .execution_options(synchronize_session=False)
    )
    return True


def user_for_api_token(session: Session, secret: str, *, now: datetime | None = None) -> User:
    """The owner of a live token (revoked, expired or deactivated: Unauthenticated), whatever
    its scopes; for callers outside HTTP (the CLI's checks)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    now = now or utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or not token.user.active
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthenticated("invalid or revoked API token")
    return token.user
