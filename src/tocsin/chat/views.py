"""HTML routes: chat connections under Settings (admins edit; each shows the URLs to paste
into its chat service, and a Matrix one its registration file), a person's own chat links,
and the one-time page that links a chat user to the Tocsin account that opens it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.chat import channels, connections, people
from tocsin.chat.connections import VENDORS
from tocsin.config import Settings
from tocsin.definitions import service as definitions
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession
from tocsin.errors import DomainError
from tocsin.incidents.models import Incident
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, optional_int, redirect, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BACK = "/settings/chat"
LINKS = "/chat/links"
# Every credential any vendor takes, in the order the forms show them.
SECRET_NAMES = tuple(dict.fromkeys(n for v in VENDORS.values() for n in (*v.secrets, *v.generated)))


# --- the connections ------------------------------------------------------------------------


def _connection_form(form: FormData, *, new: bool) -> dict[str, Any]:
    """The form as service data; an empty credential is left out (kept, or generated)."""
    data: dict[str, Any] = {
        name: text(form, name)
        for name in ("name", "base_url", "team", "bot_user_id", "naming", "announce_channel")
    }
    if new:
        data["vendor"] = text(form, "vendor")
    data["enabled"] = checkbox(form, "enabled")
    data["channel_severities"] = int_list(form, "channel_severities")
    minutes = optional_int(form, "archive_after_minutes")
    if minutes is not None:
        data["archive_after_minutes"] = minutes
    data["secrets"] = {
        name: text(form, f"secret_{name}")
        for name in SECRET_NAMES
        if text(form, f"secret_{name}").strip()
    }
    return data


def _page(
    request: Request,
    db: Session,
    settings: Settings,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    found = connections.list_connections(db)
    context = {
        "section": "chat",
        "connections": found,
        "vendors": VENDORS,
        "severities": definitions.severities(db),
        "urls": {c.id: connections.inbound_urls(c, settings.public_url()) for c in found},
        "secrets_set": {c.id: connections.secrets_set(c, settings) for c in found},
        "secret_names": SECRET_NAMES,
        "generated_names": {n for v in VENDORS.values() for n in v.generated},
        # Which vendors take each credential, for the new connection's form.
        "secret_vendors": {
            n: ", ".join(v.label for v in VENDORS.values() if n in v.secrets) for n in SECRET_NAMES
        },
        "error": error,
        # What was typed, without the credentials, to fill the form in again.
        "form": {k: v for k, v in (form or {}).items() if not k.startswith("secret_")},
    }
    response = render(request, "settings/chat.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/chat")
def connections_page(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return _page(request, db, settings)


@router.post("/settings/chat")
def create_connection(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    try:
        data = _connection_form(form, new=True)
        connection = connections.create_connection(db, data, settings=settings)
    except DomainError as exc:
        db.rollback()
        return _page(request, db, settings, error=exc.message, form=values(form), status=422)
    return redirect(BACK, notice=f"{connection.name} connected.")


@router.post("/settings/chat/{connection_id}")
def update_connection(
    connection_id: int, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    connection = connections.get_connection(db, connection_id)
    return perform(
        db,
        BACK,
        lambda: connections.update_connection(
            db, connection, _connection_form(form, new=False), settings=settings
        ),
        notice="Connection saved.",
    )


@router.post("/settings/chat/{connection_id}/delete")
def delete_connection(connection_id: int, db: DbSession, admin: Admin) -> Response:
    connection = connections.get_connection(db, connection_id)
    return perform(
        db,
        BACK,
        lambda: connections.delete_connection(db, connection),
        notice="Connection deleted.",
    )


@router.get("/settings/chat/{connection_id}/matrix-registration.yaml")
def matrix_registration(
    connection_id: int, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    """The registration file to give the homeserver, as a download (it holds the tokens)."""
    connection = connections.get_connection(db, connection_id)
    body = connections.matrix_registration(connection, settings)
    return Response(
        body,
        media_type="application/yaml",
        headers={
            "Content-Disposition": f'attachment; filename="tocsin-{connection.id}.yaml"',
            "Cache-Control": "no-store",
        },
    )


# --- a person's links -----------------------------------------------------------------------


@router.get("/chat/links")
def links_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    names = {c.id: c for c in connections.list_connections(db)}
    context = {"links": people.links_of(db, user), "names": names, "vendors": VENDORS}
    return render(request, "chat/links.html", context)


@router.post("/chat/links/{connection_id}/unlink")
def unlink(connection_id: int, db: DbSession, user: CurrentUser) -> Response:
    connection = connections.get_connection(db, connection_id)
    return perform(
        db,
        LINKS,
        lambda: people.unlink(db, user, connection),
        notice=f"Unlinked from {connection.name}.",
    )


@router.get("/chat/link/{token}")
def link_page(request: Request, token: str, db: DbSession, user: CurrentUser) -> Response:
    """Ask the signed-in person to confirm; an unknown, used or expired link is a 404."""
    found = people.link_request(db, token)
    context = {"request_": found, "token": token, "vendors": VENDORS, "linked": None}
    response = render(request, "chat/link.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/chat/link/{token}")
def complete_link(request: Request, token: str, db: DbSession, user: CurrentUser) -> Response:
    found = people.link_request(db, token)
    context = {"request_": found, "token": token, "vendors": VENDORS}
    context["linked"] = people.complete_link(db, token, user)
    response = render(request, "chat/link.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the incident page's Chat card --------------------------------------------------------


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident page's Chat card: its channel in each connection (where to join it, or
    why it is not there yet), or nothing when no chat is connected."""
    rows = channels.channels_of(db, incident.id)
    connected = bool(rows) or bool(connections.list_connections(db))
    return {
        "connected": connected,
        "channels": [
            {
                "vendor": VENDORS[c.connection.vendor].label,
                "connection": c.connection.name,
                "name": c.name,
                "url": c.url,
                "state": c.state,
                "private": c.private,
                "error": c.error,
            }
            for c in rows
        ],
    }
