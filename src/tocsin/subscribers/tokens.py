"""Signed tokens for subscribers' links and for the public subscribe form.

Every token is an HMAC-SHA256 under the server's secret key (`TOCSIN_SECRET_KEY`), so the
database alone cannot make one. Link tokens name one subscriber and mix in that subscriber's
own salt: a token can only ever act on the subscriber it was made for, a changed salt voids
every link sent before, and no token can address a list.

- unsubscribe: `u<id>.<mac>`; does not expire (an unsubscribe link in an old mail must keep
  working, RFC 8058), voided when the salt changes.
- confirm: `c<id>.<expires>.<mac>`; expires after `TOCSIN_SUBSCRIBER_CONFIRM_HOURS`.
- form: `<issued>.<mac>` bound to one page; the subscribe form's CSRF token for anonymous
  visitors (who have no Tocsin session to hold one). Valid for `FORM_TOKEN_HOURS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from tocsin.validation import digits

FORM_TOKEN_HOURS = 6
_MAC_CHARS = 32  # 192 bits of the MAC, base64url


def _mac(secret_key: str, message: str) -> str:
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:_MAC_CHARS]


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- unsubscribe ----------------------------------------------------------------------------


def unsubscribe_token(secret_key: str, subscriber_id: int, salt: str) -> str:
    return f"u{subscriber_id}.{_mac(secret_key, f'unsubscribe:{subscriber_id}:{salt}')}"


def unsubscribe_id(token: str) -> int | None:
    """The subscriber an unsubscribe token claims to be for (not yet verified)."""
    head, _, mac = token.partition(".")
    return digits(head[1:]) if head.startswith("u") and mac else None


def unsubscribe_valid(secret_key: str, token: str, subscriber_id: int, salt: str) -> bool:
    return _equal(token, unsubscribe_token(secret_key, subscriber_id, salt))


# --- confirm --------------------------------------------------------------------------------


def confirm_token(
    secret_key: str, subscriber_id: int, salt: str, *, hours: int, now: float | None = None
) -> str:
    expires = int((time.time() if now is None else now) + hours * 3600)
    mac = _mac(secret_key, f"confirm:{subscriber_id}:{salt}:{expires}")
    return f"c{subscriber_id}.{expires}.{mac}"


@dataclass(frozen=True)
class ConfirmClaim:
    subscriber_id: int
    expires: int


def confirm_claim(token: str) -> ConfirmClaim | None:
    """What a confirm token claims (not yet verified), or None if it is malformed."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].startswith("c"):
        return None
    subscriber_id, expires = digits(parts[0][1:]), digits(parts[1])
    if subscriber_id is None or expires is None:
        return None
    return ConfirmClaim(subscriber_id, expires)


def confirm_valid(secret_key: str, token: str, salt: str) -> bool:
    """The token's signature is right for this salt (expiry is checked separately)."""
    claim = confirm_claim(token)
    if claim is None:
        return False
    mac = _mac(secret_key, f"confirm:{claim.subscriber_id}:{salt}:{claim.expires}")
    return _equal(token, f"c{claim.subscriber_id}.{claim.expires}.{mac}")


# --- the public form ------------------------------------------------------------------------


def form_token(secret_key: str, page_id: int, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_mac(secret_key, f'subscribe-form:{page_id}:{issued}')}"


def form_token_valid(
    secret_key: str, token: str, page_id: int, *, now: float | None = None
) -> bool:
    issued_text, _, mac = token.partition(".")
    issued = digits(issued_text)
    if issued is None or not mac:
        return False
    current = time.time() if now is None else now
    if not current - FORM_TOKEN_HOURS * 3600 <= issued <= current + 60:
        return False
    return _equal(mac, _mac(secret_key, f"subscribe-form:{page_id}:{issued}"))
