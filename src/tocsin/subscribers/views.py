"""Staff HTML routes: a status page's subscriber list with delivery state, one subscriber's
delivery log, and the actions (add, remove, re-activate, resend the confirmation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.deps import AppSettings, DbSession, Responder
from tocsin.errors import DomainError
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import queries, service
from tocsin.subscribers.models import SubscriberState
from tocsin.subscribers.queries import display_address
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, redirect, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

PER_PAGE = 100


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(page_id: int) -> str:
    return f"/status-pages/{page_id}/subscribers"


def _list_page(
    request: Request,
    db: Session,
    page: StatusPage,
    user: User,
    settings: Settings,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    state = request.query_params.get("state") or None
    kind = request.query_params.get("kind") or None
    offset = digits(request.query_params.get("offset", "")) or 0
    if state not in queries.STATES:
        state = None
    if kind not in queries.KINDS:
        kind = None
    items, total = queries.list_subscribers(
        db, page, state=state, kind=kind, limit=PER_PAGE, offset=offset
    )
    context = {
        "section": "status-pages",
        "page": page,
        "subscribers": items,
        "shown": {s.id: display_address(s) for s in items},
        "total": total,
        "counts": queries.counts_by_state(db, page),
        "state": state,
        "kind": kind,
        "offset": offset,
        "per_page": PER_PAGE,
        "states": queries.STATES,
        "can_skip": user.can(UserRole.admin),
        "error": error,
        "form": form or {},
        "public_form": f"/status/{page.slug}/subscribe",
        "resend_minutes": settings.subscriber_confirm_resend_minutes,
    }
    return _no_store(render(request, "subscribers/list.html", context, status))


@router.get("/status-pages/{page_id}/subscribers")
def subscriber_list(
    page_id: int, request: Request, db: DbSession, user: Responder, settings: AppSettings
) -> Response:
    page = service.get_page(db, page_id)
    return _list_page(request, db, page, user, settings)


@router.post("/status-pages/{page_id}/subscribers")
def add_subscriber(
    page_id: int,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    form: Form,
) -> Response:
    page = service.get_page(db, page_id)
    mode = text(form, "mode")
    try:
        subscriber = service.add_subscriber(
            db,
            page,
            email=text(form, "email") if mode != "webhook" else "",
            endpoint=text(form, "endpoint") if mode == "webhook" else "",
            component_ids=[c for c in form.getlist("components") if isinstance(c, str)],
            skip_confirmation=checkbox(form, "skip_confirmation"),
            by=user,
            settings=settings,
        )
    except DomainError as exc:
        db.rollback()
        return _list_page(
            request, db, page, user, settings, error=exc.message, form=values(form),
            status=exc.status_code,
        )  # fmt: skip
    what = (
        "subscribed"
        if subscriber.state == SubscriberState.active
        else "sent a confirmation link; nothing else goes to it until it is followed"
    )
    return redirect(_back(page.id), notice=f"{display_address(subscriber)}: {what}.")


@router.get("/status-pages/{page_id}/subscribers/{subscriber_id}")
def subscriber_detail(
    page_id: int, subscriber_id: int, request: Request, db: DbSession, user: Responder
) -> Response:
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    context = {
        "section": "status-pages",
        "page": page,
        "subscriber": subscriber,
        "address": display_address(subscriber),
        "deliveries": queries.deliveries_of(db, subscriber),
    }
    return _no_store(render(request, "subscribers/detail.html", context))


@router.post("/status-pages/{page_id}/subscribers/{subscriber_id}/remove")
def remove(page_id: int, subscriber_id: int, db: DbSession, user: Responder) -> Response:
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    shown = display_address(subscriber)
    return perform(
        db,
        _back(page.id),
        lambda: service.remove_subscriber(db, subscriber, by=user),
        notice=f"Removed {shown} and its delivery log.",
    )


@router.post("/status-pages/{page_id}/subscribers/{subscriber_id}/reactivate")
def reactivate(page_id: int, subscriber_id: int, db: DbSession, user: Responder) -> Response:
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    return perform(
        db,
        _back(page.id),
        lambda: service.reactivate(db, subscriber, by=user),
        notice=f"{display_address(subscriber)} gets deliveries again.",
    )


@router.post("/status-pages/{page_id}/subscribers/{subscriber_id}/resend")
def resend(
    page_id: int, subscriber_id: int, db: DbSession, user: Responder, settings: AppSettings
) -> Response:
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    return perform(
        db,
        _back(page.id),
        lambda: service.resend_confirmation(db, subscriber, settings=settings, by=user),
        notice=f"Sent the confirmation link to {subscriber.address} again.",
    )
