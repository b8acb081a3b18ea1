"""Who may use a page's subscribe form: the same people who may read the page.

This is the hook for the status page's own access check. `subscribe_access` is a FastAPI
dependency returning the check to apply; wire the status pages' check here (for example,
accept the private page's secret-link cookie), or override it per app with
`app.dependency_overrides[subscribe_access] = lambda: my_check`.

Until then: public pages are open to everyone, private pages to logged-in Tocsin users only.
Confirm and unsubscribe links need no check: their signed token is the credential, and it was
only ever mailed to an address that got past this check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from tocsin.catalog.models import User
from tocsin.statuspages.models import StatusPage, Visibility

AccessCheck = Callable[[Request, StatusPage, User | None], bool]


def default_check(request: Request, page: StatusPage, user: User | None) -> bool:
    """Public pages: anyone. Private pages: an active, logged-in Tocsin user."""
    if page.visibility == Visibility.public.value:
        return True
    return user is not None and user.active


def subscribe_access() -> AccessCheck:
    return default_check


SubscribeAccess = Annotated[AccessCheck, Depends(subscribe_access)]
