"""The small jobs of chat's inbound side, each one request to the chat service after the
request that caused it committed: read a message pinned with 📌 and put it on the timeline,
find a person's verified email to link them, join a room the bot was invited to, and read
Mattermost channels for the reactions, edits and deletions it does not push.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.chat import actions, inbound, people
from tocsin.chat.models import (
    ChannelState,
    ChatChannel,
    ChatConnection,
    ChatConversation,
    ChatDelivery,
    ChatLinkRequest,
)
from tocsin.chat.ports import ChatClient, ChatMessage, ChatUser, Inbound, Message
from tocsin.chat.sync import Chats, queue_post
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler, JobKind, PeriodicJob, Send

PURGE_JOB = "chat.purge"
DELIVERIES_KEPT = timedelta(days=7)  # a homeserver retries a transaction for far less
POLL_JOB = "chat.poll"
POLL_ONE_JOB = "chat.poll_channel"
REFERENCE = re.compile(r"\bINC-(\d{1,12})\b")


def _connection(session: Session, payload: dict[str, Any]) -> ChatConnection | None:
    found = session.get(ChatConnection, payload["connection_id"])
    return found if found is not None and found.enabled else None


Ask = Callable[[ChatClient, dict[str, Any]], Any]
Then = Callable[[Session, ChatConnection, dict[str, Any], Any], None]


def _one_request(chats: Chats, ask: Ask, then: Then | None = None) -> Handler:
    """A job that asks the connection's chat service one thing after commit (in an I/O
    thread), then acts on the answer in a new transaction. A failure raises: the registry
    tries again."""

    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        connection = _connection(session, payload)
        if connection is None:
            return None
        client = chats.client(connection)

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            if error is not None:
                raise error
            current = _connection(session, payload)
            if current is not None and then is not None:
                then(session, current, payload, result)

        return Send(perform=lambda: ask(client, payload), record=record)

    return run


def _fetch_with_author(client: ChatClient, payload: dict[str, Any]) -> tuple[ChatMessage, str]:
    message = client.fetch_message(payload["channel_id"], payload["message_id"])
    return message, client.user(message.user_id).name


def _pin(
    session: Session, connection: ChatConnection, payload: dict[str, Any], result: Any
) -> None:
    """📌: the fetched message on its channel's incident timeline."""
    message, author = result
    inbound.pin(session, connection, message, payload.get("reaction_id", ""), author)


def _identified(
    session: Session, connection: ChatConnection, payload: dict[str, Any], found: ChatUser
) -> None:
    """Link the person by the email the service verified, and tell them."""
    chat_user_id = payload["chat_user_id"]
    linked = people.link_by_email(session, connection, chat_user_id, found.email, found.name)
    if linked is not None:
        said = f"Your chat account is now linked to {linked.user.name} in Tocsin."
        queue_post(session, connection, Message(text=said), user_id=chat_user_id)


def _reacted(
    session: Session, connection: ChatConnection, payload: dict[str, Any], message: ChatMessage
) -> None:
    """✅ on a message the bot sent about an incident (a page in chat): acknowledge it as
    the person who reacted."""
    found = REFERENCE.search(message.text)
    if message.user_id != connection.bot_user_id or found is None:
        return
    linked = people.identity(session, connection, payload["chat_user_id"])
    if linked is None:
        return
    ctx = actions.Context(connection, payload["chat_user_id"], linked.user, message.channel_id)
    answer = actions.perform(session, ctx, "ack", found.group(0))
    queue_post(session, connection, Message(text=answer), channel_id=message.channel_id)


def poll(session: Session, payload: dict[str, Any]) -> None:
    """Queue a read of every open Mattermost incident channel."""
    slot = payload.get("slot") or utcnow().isoformat()
    rows = session.scalars(
        select(ChatChannel.id)
        .join(ChatConnection, ChatConnection.id == ChatChannel.connection_id)
        .where(
            ChatConnection.vendor == "mattermost",
            ChatConnection.enabled.is_(True),
            ChatChannel.state.in_((ChannelState.open.value, ChannelState.archiving.value)),
            ChatChannel.remote_id != "",
        )
    ).all()
    for channel_id in rows:
        enqueue(
            session,
            POLL_ONE_JOB,
            {"channel_id": channel_id},
            key=f"{POLL_ONE_JOB}:{channel_id}:{slot}",
        )


def _poll_one_handler(chats: Chats, settings: Settings) -> Handler:
    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        channel = session.get(ChatChannel, payload["channel_id"])
        if channel is None or not channel.remote_id or not channel.connection.enabled:
            return None
        client = chats.client(channel.connection)
        since = (channel.polled_at or channel.created_at) - timedelta(seconds=1)
        started = utcnow()
        remote_id = channel.remote_id

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            if error is not None:
                raise error
            current = session.get(ChatChannel, payload["channel_id"])
            if current is None:
                return
            current.polled_at = started
            events: list[Inbound] = result
            for event in events:
                outcome = inbound.handle(session, current.connection, event, settings)
                if outcome.reply is not None and (outcome.reply.text or outcome.reply.message):
                    user = getattr(event, "user_id", None)
                    queue_post(
                        session, current.connection,
                        outcome.reply.message or Message(text=outcome.reply.text),
                        channel_id=current.remote_id, user_id=user,
                        private=outcome.reply.private and user is not None,
                    )  # fmt: skip

        return Send(perform=lambda: client.poll(remote_id, since.timestamp()), record=record)

    return run


def purge(session: Session, payload: dict[str, Any]) -> None:
    """Forget what is no longer needed: used or expired one-time links, questions nobody
    answered, and pushed requests' ids old enough never to come again."""
    now = utcnow()
    session.execute(
        delete(ChatLinkRequest).where(
            (ChatLinkRequest.expires_at < now) | ChatLinkRequest.used_at.is_not(None)
        )
    )
    session.execute(delete(ChatConversation).where(ChatConversation.expires_at < now))
    session.execute(delete(ChatDelivery).where(ChatDelivery.received_at < now - DELIVERIES_KEPT))


def job_kinds(settings: Settings) -> list[JobKind]:
    chats = Chats(settings)
    timeout = settings.chat_timeout_seconds * 3 + 30
    attempts = settings.chat_attempts
    base = settings.chat_retry_base_seconds or 1.0
    return [
        JobKind(
            inbound.PIN_JOB,
            _one_request(chats, _fetch_with_author, _pin),
            attempts,
            base,
            timeout_seconds=timeout,
        ),
        JobKind(
            inbound.IDENTIFY_JOB,
            _one_request(chats, lambda client, p: client.user(p["chat_user_id"]), _identified),
            3,
            base,
            timeout_seconds=timeout,
        ),
        JobKind(
            inbound.JOIN_JOB,
            _one_request(chats, lambda client, p: client.join(p["room"])),
            attempts,
            base,
            timeout_seconds=timeout,
        ),
        JobKind(
            inbound.REACT_JOB,
            _one_request(
                chats,
                lambda client, p: client.fetch_message(p["channel_id"], p["message_id"]),
                _reacted,
            ),
            attempts,
            base,
            timeout_seconds=timeout,
        ),
        JobKind(POLL_JOB, poll, max_attempts=1, timeout_seconds=60),
        JobKind(PURGE_JOB, purge, max_attempts=1, timeout_seconds=120),
        JobKind(POLL_ONE_JOB, _poll_one_handler(chats, settings), 1, timeout_seconds=timeout),
    ]


def periodic(settings: Settings) -> list[PeriodicJob]:
    return [
        PeriodicJob(POLL_JOB, every=timedelta(seconds=settings.chat_poll_seconds)),
        PeriodicJob(PURGE_JOB, every=timedelta(hours=6)),
    ]
