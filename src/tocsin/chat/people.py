"""Linking chat users to Tocsin users: by an email the chat service has verified, or by a
one-time link the person opens signed in to Tocsin. An action from chat is done only as the
linked Tocsin user; an unlinked person is told how to link, and nothing is done.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.chat.models import ChatConnection, ChatIdentity, ChatLinkRequest
from tocsin.db import utcnow
from tocsin.errors import NotFound, ValidationFailed

LINK_MINUTES = 30
LINK_PATH = "/chat/link/"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity(
    session: Session, connection: ChatConnection, chat_user_id: str
) -> ChatIdentity | None:
    """The link of this chat user in this connection, if any (and its user still active)."""
    found = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.connection_id == connection.id,
            ChatIdentity.chat_user_id == chat_user_id,
        )
    )
    return found if found is not None and found.user.active else None


def link(
    session: Session,
    connection: ChatConnection,
    chat_user_id: str,
    user: User,
    *,
    via: str,
    name: str = "",
) -> ChatIdentity:
    """Link a chat user to `user` (replacing an earlier link of either in this connection)."""
    for old in session.scalars(
        select(ChatIdentity).where(
            ChatIdentity.connection_id == connection.id,
            (ChatIdentity.chat_user_id == chat_user_id) | (ChatIdentity.user_id == user.id),
        )
    ):
        session.delete(old)
    session.flush()
    linked = ChatIdentity(
        connection_id=connection.id,
        chat_user_id=chat_user_id,
        chat_user_name=name[:255],
        user_id=user.id,
        via=via,
    )
    session.add(linked)
    session.flush()
    return linked


def link_by_email(
    session: Session,
    connection: ChatConnection,
    chat_user_id: str,
    email: str | None,
    name: str = "",
) -> ChatIdentity | None:
    """Link a chat user whose verified email is a Tocsin account's (case-insensitive), unless
    already linked; None when no active account has it."""
    if not email:
        return None
    known = identity(session, connection, chat_user_id)
    if known is not None:
        return known
    user = session.scalar(
        select(User).where(
            func.lower(User.email) == email.strip().lower(), User.active.is_(True), User.is_person
        )
    )
    if user is None:
        return None
    return link(session, connection, chat_user_id, user, via="email", name=name)


def start_link(
    session: Session, connection: ChatConnection, chat_user_id: str, name: str = ""
) -> str:
    """A one-time path (`/chat/link/<token>`) that links this chat user to whoever opens it
    signed in, valid for LINK_MINUTES."""
    token = secrets.token_hex(24)  # no "_" or "-", which chat Markdown may escape or cut
    session.add(
        ChatLinkRequest(
            connection_id=connection.id,
            chat_user_id=chat_user_id,
            chat_user_name=name[:255],
            token_hash=_hash(token),
            expires_at=utcnow() + timedelta(minutes=LINK_MINUTES),
        )
    )
    session.flush()
    return LINK_PATH + token


def link_request(session: Session, token: str) -> ChatLinkRequest:
    """A link still to be used; NotFound for an unknown, used or expired one."""
    found = session.scalar(
        select(ChatLinkRequest).where(ChatLinkRequest.token_hash == _hash(token))
    )
    if found is None or found.used_at is not None:
        raise NotFound("this link is unknown or was already used: ask for a new one in chat")
    if found.expires_at <= utcnow():
        raise NotFound(
            f"this link expired ({LINK_MINUTES} minutes after it was made): ask for a new "
            "one in chat"
        )
    return found


def complete_link(session: Session, token: str, user: User) -> ChatIdentity:
    """Link the request's chat user to `user`; the link cannot be used again."""
    if not user.active:
        raise ValidationFailed("a deactivated account cannot be linked")
    request = link_request(session, token)
    request.used_at = utcnow()
    return link(
        session,
        request.connection,
        request.chat_user_id,
        user,
        via="link",
        name=request.chat_user_name,
    )


def unlink(session: Session, user: User, connection: ChatConnection) -> bool:
    """Forget `user`'s link in this connection; whether there was one."""
    found = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.connection_id == connection.id, ChatIdentity.user_id == user.id
        )
    )
    if found is None:
        return False
    session.delete(found)
    session.flush()
    return True


def chat_ids(
    session: Session, connection: ChatConnection, user_ids: Iterable[int]
) -> dict[int, str]:
    """The chat user id of each of these Tocsin users linked in this connection."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(ChatIdentity.user_id, ChatIdentity.chat_user_id).where(
            ChatIdentity.connection_id == connection.id, ChatIdentity.user_id.in_(wanted)
        )
    )
    return {user_id: chat_id for user_id, chat_id in rows}


def links_of(session: Session, user: User) -> list[ChatIdentity]:
    """A person's links, for their settings page."""
    return list(
        session.scalars(
            select(ChatIdentity).where(ChatIdentity.user_id == user.id).order_by(ChatIdentity.id)
        )
    )
