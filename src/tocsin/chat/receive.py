"""The routes chat services call: Slack's and Mattermost's commands, buttons, forms and
events (`POST /chat/{connection}/{route}`), and a Matrix homeserver's appservice
transactions (`PUT /chat/{connection}/_matrix/app/v1/transactions/{txn}`).

Each request is verified by its vendor's receiver (a bad signature, a stale timestamp or a
wrong token is a 401 and nothing is done), read into neutral events, acted on in the
request's transaction (`inbound.handle`), and answered; a reply the service cannot show in
its answer is posted after commit. A Matrix transaction the homeserver sends again is
answered without acting twice.
"""

from __future__ import annotations

import time
from typing import Annotated

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.chat import inbound
from tocsin.chat.connections import get_connection, port
from tocsin.chat.models import ChatConnection, ChatDelivery
from tocsin.chat.ports import (
    ButtonPressed,
    ChatClient,
    ChatError,
    ChatRefused,
    Command,
    FormSubmitted,
    Message,
    Receiver,
)
from tocsin.chat.sync import Chats, queue_post
from tocsin.chat.vendors import receiver_for
from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.deps import AppSettings, DbSession
from tocsin.errors import NotFound, Unauthenticated, ValidationFailed

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)
BODY_MAX = 1_000_000
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
INTERACTIVE = (Command, ButtonPressed, FormSubmitted)


async def _raw_body(request: Request) -> bytes:
    """The body as sent (signatures cover these bytes), at most BODY_MAX."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_MAX:
            raise ValidationFailed(f"the request's body is larger than {BODY_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


Body = Annotated[bytes, Depends(_raw_body)]


def _callback_base(settings: Settings, connection: ChatConnection) -> str:
    return f"{settings.public_url().rstrip('/')}/chat/{connection.id}/"


def _receiver(
    db: Session, connection_id: int, settings: Settings
) -> tuple[ChatConnection, Receiver]:
    connection = get_connection(db, connection_id)
    if not connection.enabled:
        raise NotFound(f"chat connection {connection_id} is turned off")
    try:
        conn = port(connection, settings)
    except Undecryptable as exc:
        raise Unauthenticated(str(exc)) from exc
    return connection, receiver_for(
        connection.vendor, conn, callback_base=_callback_base(settings, connection)
    )


def _open_form(client: ChatClient, connection_id: int, after: inbound.After) -> None:
    """Show a form (after the response: Slack's trigger lives three seconds)."""
    try:
        client.open_form(after.trigger, after.form)
    except ChatError as exc:
        log.warning("chat.form_failed", connection=connection_id, reason=exc.message)


def _act(
    db: Session,
    connection: ChatConnection,
    receiver: Receiver,
    route: str,
    body: bytes,
    request: Request,
    settings: Settings,
    tasks: BackgroundTasks,
) -> Response:
    try:
        parsed = receiver.parse(route, request.headers, body, now=time.time())
    except ChatRefused as exc:
        raise Unauthenticated(f"refused: {exc.reason}") from exc
    except ValueError as exc:
        raise ValidationFailed(f"the chat service's request could not be read: {exc}") from exc
    if parsed.answer is not None:
        return JSONResponse(dict(parsed.answer))
    answered: Response | None = None
    for event in parsed.events:
        outcome = inbound.handle(db, connection, event, settings)
        if outcome.after is not None:
            client = Chats(settings).client(connection)
            tasks.add_task(_open_form, client, connection.id, outcome.after)
        reply = outcome.reply
        answer = receiver.answer(route, event, reply) if isinstance(event, INTERACTIVE) else None
        if answer is not None and len(parsed.events) == 1:
            answered = (
                JSONResponse(dict(answer.body), status_code=answer.status)
                if answer.body is not None
                else Response(status_code=answer.status)
            )
            continue
        if reply is None or not (reply.text or reply.message):
            continue
        user = getattr(event, "user_id", None)
        channel = getattr(event, "channel_id", None)
        # Matrix has no private messages in a room: a private reply goes to the person's
        # direct room with the bot (never in the room, where others would read a link).
        queue_post(
            db, connection, reply.message or Message(text=reply.text),
            channel_id=channel, user_id=user, private=reply.private and user is not None,
        )  # fmt: skip
    if answered is not None:
        return answered
    final = receiver.answer(route, None, None)
    if final is None or final.body is None:
        return Response(status_code=final.status if final else 200)
    return JSONResponse(dict(final.body), status_code=final.status)


@router.post("/chat/{connection_id:int}/{route}")
def receive(
    connection_id: PathId,
    route: str,
    request: Request,
    body: Body,
    db: DbSession,
    settings: AppSettings,
    tasks: BackgroundTasks,
) -> Response:
    """Slack's and Mattermost's requests: commands, interactivity, events, actions, dialogs."""
    connection, receiver = _receiver(db, connection_id, settings)
    if route not in receiver.routes or connection.vendor == "matrix":
        raise NotFound(f"no chat route {route!r} for this connection")
    return _act(db, connection, receiver, route, body, request, settings, tasks)


@router.put("/chat/{connection_id:int}/_matrix/app/v1/transactions/{txn_id}")
def matrix_transaction(
    connection_id: PathId,
    txn_id: Annotated[str, Path(min_length=1, max_length=200)],
    request: Request,
    body: Body,
    db: DbSession,
    settings: AppSettings,
    tasks: BackgroundTasks,
) -> Response:
    """A Matrix homeserver's events for the appservice, once per transaction id."""
    connection, receiver = _receiver(db, connection_id, settings)
    if connection.vendor != "matrix":
        raise NotFound("this connection is not a Matrix appservice")
    # Verified before the transaction is remembered: a forged one must not use up its id.
    try:
        receiver.parse("transactions", request.headers, b'{"events": []}', now=time.time())
    except ChatRefused as exc:
        raise Unauthenticated(f"refused: {exc.reason}") from exc
    seen = db.scalar(
        select(ChatDelivery.id).where(
            ChatDelivery.connection_id == connection.id, ChatDelivery.delivery_id == txn_id
        )
    )
    if seen is not None:
        return JSONResponse({})
    try:
        with db.begin_nested():
            db.add(ChatDelivery(connection_id=connection.id, delivery_id=txn_id))
    except IntegrityError:
        return JSONResponse({})  # the same transaction, being handled right now
    return _act(db, connection, receiver, "transactions", body, request, settings, tasks)


@router.get("/chat/{connection_id:int}/_matrix/app/v1/users/{user_id}")
def matrix_user(
    connection_id: PathId, user_id: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    """The homeserver asks whether a user of the appservice's namespace exists: only its bot."""
    connection, receiver = _receiver(db, connection_id, settings)
    try:
        receiver.parse("transactions", request.headers, b'{"events": []}', now=time.time())
    except ChatRefused as exc:
        raise Unauthenticated(f"refused: {exc.reason}") from exc
    if user_id == connection.bot_user_id:
        return JSONResponse({})
    return JSONResponse({"errcode": "M_NOT_FOUND"}, status_code=404)


@router.get("/chat/{connection_id:int}/_matrix/app/v1/rooms/{alias}")
def matrix_room(
    connection_id: PathId, alias: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    """The homeserver asks for a room alias of the appservice's namespace: Tocsin makes its
    rooms itself, never on demand."""
    _connection, receiver = _receiver(db, connection_id, settings)
    try:
        receiver.parse("transactions", request.headers, b'{"events": []}', now=time.time())
    except ChatRefused as exc:
        raise Unauthenticated(f"refused: {exc.reason}") from exc
    return JSONResponse({"errcode": "M_NOT_FOUND"}, status_code=404)
