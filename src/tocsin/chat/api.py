"""JSON routes: chat connections (admins write, credentials write-only; each shows the URLs to
paste into its chat service), a Matrix connection's registration file, and the caller's own
chat links."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from tocsin.catalog.schemas import Page, window
from tocsin.chat import connections, people
from tocsin.chat.schemas import (
    ChatConnectionIn,
    ChatConnectionOut,
    ChatConnectionPatch,
    ChatLinkOut,
    connection_out,
    link_out,
    service_data,
)
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession
from tocsin.errors import NotFound
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]
YAML = "application/yaml"


@router.get("/connections", response_model=Page[ChatConnectionOut])
def list_connections(
    db: DbSession, user: CurrentUser, settings: AppSettings, limit: Limit = 500, offset: Offset = 0
) -> dict[str, Any]:
    """The chat connections (credentials never shown: only which are set)."""
    rows = [connection_out(db, c, settings) for c in connections.list_connections(db)]
    return window(rows, limit, offset)


@router.post("/connections", status_code=201, response_model=ChatConnectionOut)
def create_connection(
    body: ChatConnectionIn, db: DbSession, admin: Admin, settings: AppSettings
) -> ChatConnectionOut:
    """Connect a Slack workspace, a Mattermost team or a Matrix homeserver; credentials are
    stored encrypted, and those Tocsin can make are generated when not given."""
    connection = connections.create_connection(db, service_data(body), settings=settings)
    return connection_out(db, connection, settings)


@router.get("/connections/{connection_id}", response_model=ChatConnectionOut)
def get_connection(
    connection_id: PathId, db: DbSession, user: CurrentUser, settings: AppSettings
) -> ChatConnectionOut:
    return connection_out(db, connections.get_connection(db, connection_id), settings)


@router.patch("/connections/{connection_id}", response_model=ChatConnectionOut)
def update_connection(
    connection_id: PathId,
    body: ChatConnectionPatch,
    db: DbSession,
    admin: Admin,
    settings: AppSettings,
) -> ChatConnectionOut:
    """Change a connection (not its vendor); a credential left out or empty is kept."""
    connection = connections.get_connection(db, connection_id)
    connections.update_connection(db, connection, service_data(body), settings=settings)
    return connection_out(db, connection, settings)


@router.delete("/connections/{connection_id}", status_code=204)
def delete_connection(connection_id: PathId, db: DbSession, admin: Admin) -> Response:
    """Forget a connection, its people's links and its channels' upkeep (the channels stay in
    the chat service)."""
    connections.delete_connection(db, connections.get_connection(db, connection_id))
    return Response(status_code=204)


@router.get(
    "/connections/{connection_id}/matrix-registration",
    response_class=Response,
    responses={
        200: {
            "description": "The registration file (YAML)",
            "content": {YAML: {"schema": {"type": "string"}}},
        },
        **errors(403),
    },
)
def matrix_registration(
    connection_id: PathId, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    """A Matrix connection's appservice registration, the file its homeserver is given (it
    holds the connection's tokens, so admins only); 404 for another vendor's connection."""
    connection = connections.get_connection(db, connection_id)
    body = connections.matrix_registration(connection, settings)
    return Response(
        body,
        media_type=YAML,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/links", response_model=Page[ChatLinkOut])
def my_links(
    db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0
) -> dict[str, Any]:
    """The caller's chat accounts linked to their Tocsin account, one per connection."""
    rows = [link_out(db, identity) for identity in people.links_of(db, user)]
    return window(rows, limit, offset)


@router.delete("/links/{connection_id}", status_code=204)
def unlink(connection_id: PathId, db: DbSession, user: CurrentUser) -> Response:
    """Unlink the caller's chat account in this connection: chat actions are no longer done
    as them until they link again."""
    connection = connections.get_connection(db, connection_id)
    if not people.unlink(db, user, connection):
        raise NotFound(f"you have no linked account in {connection.name}")
    return Response(status_code=204)
