"""Who may use a page's subscribe form: the same people who may read the page.

`subscribe_access` is a FastAPI dependency returning the check to apply (override it per app
with `app.dependency_overrides[subscribe_access] = lambda: my_check`). Public pages are open
to everyone; a private page to logged-in Tocsin users and to holders of the page's secret-link
cookie (`tocsin.statuspages.access`), exactly as the page itself.
Confirm and unsubscribe links need no check: their signed token is the credential, and it was
only ever mailed to an address that got past this check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from tocsin.catalog.models import User
from tocsin.statuspages import access as secret_links
from tocsin.statuspages.models import StatusPage, Visibility

AccessCheck = Callable[[Request, StatusPage, User | None], bool]


def default_check(request: Request, page: StatusPage, user: User | None) -> bool:
    """Public pages: anyone. Private pages: an active, logged-in Tocsin user, or whoever
    opened the page's current secret link (its signed cookie)."""
    if page.visibility == Visibility.public.value:
        return True
    if user is not None and user.active:
        return True
    settings = request.app.state.settings
    cookie = request.cookies.get(secret_links.cookie_name(page.slug))
    return secret_links.cookie_valid(settings.secret_key, page.slug, page.secret_link_hash, cookie)


def subscribe_access() -> AccessCheck:
    return default_check


SubscribeAccess = Annotated[AccessCheck, Depends(subscribe_access)]
