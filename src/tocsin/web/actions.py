"""Running one service call from a form handler: errors roll back and come back as a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.errors import DomainError, Forbidden
from tocsin.web.forms import redirect


def perform(
    db: Session,
    back: str,
    action: Callable[[], Any],
    *,
    notice: str | None = None,
    warn: Callable[[Any], str | None] | None = None,
) -> Response:
    """Run `action`; on a domain error undo everything it wrote and show the message. `warn`
    reads a warning for the person from what the action returned (it is done all the same)."""
    try:
        result = action()
    except Forbidden:
        # Not rolled back here: the request's unit of work (deps.get_db) does that after
        # detaching the signed-in user, whom the 403 page still shows. A rollback now would
        # expire that user and the page would fail to render.
        raise
    except DomainError as exc:
        db.rollback()
        return redirect(back, error=exc.message)
    return redirect(back, notice=notice, warning=warn(result) if warn is not None else None)
