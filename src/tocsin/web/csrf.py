"""CSRF protection for browser sessions.

Forms carry the session's CSRF token in a hidden `csrf_token` field; scripts send it in the
`X-CSRF-Token` header. API calls with a bearer token are not exposed to CSRF and skip this.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from tocsin.errors import Forbidden

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True  # old browsers and non-browser clients; the token check still applies
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe browser request without the session's token (or from another origin)."""
    if request.method in SAFE_METHODS:
        return
    if getattr(request.state, "auth_via", None) == "token":
        return
    if not _same_origin(request):
        raise Forbidden("cross-origin request refused")
    expected = getattr(request.state, "csrf_token", None)
    if expected is None:
        return  # not logged in: the route's own auth check answers
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


CsrfChecked = Annotated[None, Depends(check_csrf)]
