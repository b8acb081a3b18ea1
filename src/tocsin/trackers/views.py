"""HTML routes: the tracker connections under Settings (admins edit), and each action item's
tracker part (a card in its row on the incident page and the follow-up list)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.catalog.models import UserRole
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import DomainError
from tocsin.incidents import queries
from tocsin.incidents.models import ActionItem
from tocsin.trackers import service
from tocsin.trackers.models import TrackerKind, TrackerLink
from tocsin.trackers.schemas import webhook_url
from tocsin.trackers.vendors import VENDORS
from tocsin.web.actions import perform
from tocsin.web.cards import viewer
from tocsin.web.forms import Form, checkbox, optional_int, redirect, safe_back, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BACK = "/settings/trackers"


# --- the connections ------------------------------------------------------------------------


def _connection_form(form: FormData) -> dict[str, Any]:
    """The form as service data; an empty credential or secret keeps the stored one."""
    data: dict[str, Any] = {
        name: text(form, name)
        for name in ("name", "kind", "base_url", "project", "account", "issue_type")
    }
    data["credential"] = text(form, "credential")
    data["webhook_secret"] = text(form, "webhook_secret")
    if checkbox(form, "clear_webhook_secret"):
        data["clear_webhook_secret"] = True
    return data


def _page(
    request: Request,
    db: Session,
    settings: Any,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    connections = service.list_connections(db)
    context = {
        "section": "trackers",
        "connections": connections,
        "vendors": VENDORS,
        "kinds": [k.value for k in TrackerKind],
        "webhook_urls": {c.id: webhook_url(c, settings.base_url) for c in connections},
        "error": error,
        # What was typed, without the secrets, to fill the form in again.
        "form": {
            k: v for k, v in (form or {}).items() if k not in ("credential", "webhook_secret")
        },
    }
    response = render(request, "settings/trackers.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/trackers")
def connections_page(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return _page(request, db, settings)


@router.post("/settings/trackers")
def create_connection(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    try:
        connection = service.create_connection(db, _connection_form(form), settings=settings)
    except DomainError as exc:
        db.rollback()
        return _page(request, db, settings, error=exc.message, form=values(form), status=422)
    return redirect(BACK, notice=f"{connection.name} connected.")


@router.post("/settings/trackers/{connection_id}")
def update_connection(
    connection_id: int, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    connection = service.get_connection(db, connection_id)
    data = _connection_form(form)
    return perform(
        db,
        BACK,
        lambda: service.update_connection(db, connection, data, settings=settings),
        notice="Connection saved.",
    )


@router.post("/settings/trackers/{connection_id}/delete")
def delete_connection(connection_id: int, db: DbSession, admin: Admin) -> Response:
    connection = service.get_connection(db, connection_id)
    return perform(
        db, BACK, lambda: service.delete_connection(db, connection), notice="Connection deleted."
    )


# --- an action item's issue -----------------------------------------------------------


def item_card(db: Session, items: list[ActionItem], request: Request) -> dict[str, Any]:
    """Each shown item's link (one query), the connections to create in, who may act."""
    ids = [item.id for item in items]
    links = (
        db.scalars(select(TrackerLink).where(TrackerLink.action_item_id.in_(ids))).all()
        if ids
        else []
    )
    user = viewer(request)
    return {
        "links": {link.action_item_id: link for link in links},
        "connections": service.list_connections(db) if ids else [],
        "can_act": user is not None and user.role in (UserRole.admin, UserRole.responder),
        "back": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "labels": {kind: vendor.label for kind, vendor in VENDORS.items()},
    }


def _back(form: FormData, item: ActionItem) -> str:
    default = f"/incidents/{item.incident.reference}#action-items"
    return safe_back(text(form, "back"), default)


@router.post("/action-items/{item_id}/tracker")
def start_link(item_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    item = queries.get_action_item(db, item_id, viewer=user)
    back = _back(form, item)
    connection_id = optional_int(form, "connection_id")
    issue = text(form, "issue")

    def act() -> None:
        connection = service.get_connection(db, connection_id or 0)
        if text(form, "action") == "link":
            service.link_issue(db, item, connection, issue, by=user)
        else:
            service.create_issue(db, item, connection, by=user)

    return perform(db, back, act, notice="Sent to the tracker: the link appears in a moment.")


@router.post("/action-items/{item_id}/tracker/unlink")
def unlink(item_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    item = queries.get_action_item(db, item_id, viewer=user)
    back = _back(form, item)
    return perform(db, back, lambda: service.unlink(db, item, by=user), notice="Unlinked.")
