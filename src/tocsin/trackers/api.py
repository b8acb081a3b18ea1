"""JSON routes: tracker connections (admins write, credentials write-only), a follow-up's
issue, and the trackers' webhooks (authenticated by their signature, not a token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from tocsin.catalog.schemas import Page, window
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import NotFound, ValidationFailed
from tocsin.incidents import queries
from tocsin.trackers import service, webhooks
from tocsin.trackers.schemas import (
    ConnectionIn,
    ConnectionOut,
    ConnectionPatch,
    LinkIn,
    LinkOut,
    WebhookOut,
    connection_out,
    link_out,
)
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["issue trackers"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


@router.get("/trackers", response_model=Page[ConnectionOut])
def list_connections(
    db: DbSession, user: CurrentUser, settings: AppSettings, limit: Limit = 500, offset: Offset = 0
) -> dict[str, Any]:
    """The organisation's tracker connections (credentials never shown: only whether set)."""
    rows = [connection_out(c, settings.base_url) for c in service.list_connections(db)]
    return window(rows, limit, offset)


@router.post("/trackers", status_code=201, response_model=ConnectionOut)
def create_connection(
    body: ConnectionIn, db: DbSession, admin: Admin, settings: AppSettings
) -> ConnectionOut:
    """Connect a tracker; the credential and webhook secret are stored encrypted."""
    connection = service.create_connection(db, body.model_dump(), settings=settings)
    return connection_out(connection, settings.base_url)


@router.get("/trackers/{connection_id}", response_model=ConnectionOut)
def get_connection(
    connection_id: PathId, db: DbSession, user: CurrentUser, settings: AppSettings
) -> ConnectionOut:
    return connection_out(service.get_connection(db, connection_id), settings.base_url)


@router.patch("/trackers/{connection_id}", response_model=ConnectionOut)
def update_connection(
    connection_id: PathId,
    body: ConnectionPatch,
    db: DbSession,
    admin: Admin,
    settings: AppSettings,
) -> ConnectionOut:
    """Change a connection; a credential or webhook secret left out is kept."""
    connection = service.get_connection(db, connection_id)
    changes = body.model_dump(exclude_unset=True)
    service.update_connection(db, connection, changes, settings=settings)
    return connection_out(connection, settings.base_url)


@router.delete("/trackers/{connection_id}", status_code=204)
def delete_connection(connection_id: PathId, db: DbSession, admin: Admin) -> Response:
    """Forget a connection and its links (the issues stay in the tracker)."""
    service.delete_connection(db, service.get_connection(db, connection_id))
    return Response(status_code=204)


BODY_MAX = webhooks.BODY_MAX


async def _raw_body(request: Request) -> bytes:
    """The webhook's body as sent (its signature covers these bytes), at most BODY_MAX."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_MAX:
            raise ValidationFailed(f"the webhook's body is larger than {BODY_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/trackers/{connection_id}/webhook",
    response_model=WebhookOut,
    responses=errors(422),
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def receive_webhook(
    connection_id: PathId,
    request: Request,
    body: Annotated[bytes, Depends(_raw_body)],
    db: DbSession,
    settings: AppSettings,
) -> WebhookOut:
    """A tracker's webhook (GitHub `issues`, GitLab issue events, Jira issue events, Linear
    Issue events), signed with the connection's webhook secret: the linked follow-ups take
    the issue's state. A bad or missing signature is a 401."""
    connection = service.get_connection(db, connection_id)
    changed = webhooks.receive(db, connection, request.headers, body, settings=settings)
    return WebhookOut(follow_ups=changed)


def _item_link(db: DbSession, item_id: int, user: Any) -> Any:
    item = queries.get_action_item(db, item_id, viewer=user)
    link = service.link_of(db, item)
    return item, link


@router.get("/action-items/{item_id}/tracker-link", response_model=LinkOut)
def get_link(item_id: PathId, db: DbSession, user: CurrentUser) -> LinkOut:
    """The follow-up's issue: being created or linked, linked with its state, or failed."""
    item, link = _item_link(db, item_id, user)
    if link is None:
        raise NotFound(f"“{item.title}” has no issue in a tracker")
    return link_out(link)


@router.post(
    "/action-items/{item_id}/tracker-link",
    status_code=202,
    response_model=LinkOut,
    responses=errors(404),
)
def start_link(item_id: PathId, body: LinkIn, db: DbSession, user: Responder) -> LinkOut:
    """Create the follow-up as an issue, or link an existing one: accepted now, done by a job
    after commit (state `creating` or `linking`; then `linked` or `failed` with the reason)."""
    item = queries.get_action_item(db, item_id, viewer=user)
    connection = service.get_connection(db, body.connection_id)
    if body.action == "create":
        link = service.create_issue(db, item, connection, by=user)
    else:
        link = service.link_issue(db, item, connection, body.issue, by=user)
    return link_out(link)


@router.delete("/action-items/{item_id}/tracker-link", status_code=204)
def remove_link(item_id: PathId, db: DbSession, user: Responder) -> Response:
    """Unlink the follow-up from its issue (the issue stays in the tracker)."""
    item = queries.get_action_item(db, item_id, viewer=user)
    service.unlink(db, item, by=user)
    return Response(status_code=204)
