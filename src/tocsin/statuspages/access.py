"""Private pages: the shared secret link and the signed cookie it sets.

The link's token is stored as its SHA-256 only. Opening the link sets a cookie signed with
the server's secret key that names the page, a fingerprint of the current link and an
expiry; checking it needs no database, so a private page is served from memory like a public
one. Making a new link (or removing it) changes the fingerprint, which ends every cookie
that the old link set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from tocsin.validation import digits

COOKIE_PREFIX = "tocsin_sp_"
COOKIE_DAYS = 7
TOKEN_PREFIX = "tsp_"


def new_token() -> tuple[str, str]:
    """A new secret link token and its hash (store the hash, show the token once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    if not stored_hash or not token:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)


def cookie_name(slug: str) -> str:
    return COOKIE_PREFIX + slug.replace("-", "_")


def _signature(secret_key: str, slug: str, link_hash: str, expires: int) -> str:
    message = f"statuspage:{slug}:{link_hash[:16]}:{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def sign_cookie(secret_key: str, slug: str, link_hash: str, *, now: float | None = None) -> str:
    """The cookie value that lets its holder read the page until it expires."""
    expires = int((now if now is not None else time.time()) + COOKIE_DAYS * 86400)
    return f"{expires}.{_signature(secret_key, slug, link_hash, expires)}"


def cookie_valid(
    secret_key: str,
    slug: str,
    link_hash: str | None,
    value: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True if `value` was signed by this server for this page's current link and has not
    expired."""
    if not value or not link_hash:
        return False
    expires_text, _, signature = value.partition(".")
    expires = digits(expires_text)
    if expires is None or not signature:
        return False
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature, _signature(secret_key, slug, link_hash, expires))
