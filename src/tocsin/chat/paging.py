"""Pages (and other notices) delivered in chat: a contact method of kind "chat" names a
connection, and its message is a direct message from that connection's bot to the person's
linked account there, with Acknowledge and Resolve buttons that act like the page's links
(as the person, through `actions`), and on Matrix the ✅ reaction or the commands.

notify delivers it like any other channel: `destination` runs in the delivery's transaction
(the composition root hands it to notify's `Channels.prepare`), `ChatPageChannel.send` in
an I/O thread with what it read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.chat import people
from tocsin.chat.connections import secrets_of
from tocsin.chat.models import ChatConnection
from tocsin.chat.ports import Button, ChatError, Connection, Field, Message
from tocsin.chat.vendors import client_for
from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.notify.channels import DeliveryFailed, Destination
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import ContactMethod
from tocsin.outbound import OutboundGuard


class NotLinked(DeliveryFailed):
    """Trying again cannot help until the person links their chat account again."""

    retryable = False


def destination(session: Session, method: ContactMethod, settings: Settings) -> Destination:
    """Where a chat contact method sends: the connection, its credentials and the person's
    linked chat account; NotLinked when there is none."""
    connection = session.get(ChatConnection, int(method.target))
    if connection is None or not connection.enabled:
        raise NotLinked("the chat connection of this contact method was deleted or turned off")
    linked = people.chat_ids(session, connection, [method.user_id]).get(method.user_id)
    if linked is None:
        raise NotLinked(
            f"{method.user.name} has no linked account in {connection.name}: link it with "
            "`link` in chat"
        )
    try:
        secrets = secrets_of(connection, settings)
    except Undecryptable as exc:
        raise NotLinked(str(exc)) from exc
    where = {
        "vendor": connection.vendor,
        "base_url": connection.base_url,
        "team": connection.team,
        "bot": connection.bot_user_id,
        "user": linked,
        "callback": f"{settings.public_url().rstrip('/')}/chat/{connection.id}/",
    }
    return Destination(target=json.dumps(where), secret=json.dumps(secrets), label=method.label)


def page_message(message: PageMessage) -> Message:
    """A page as a chat message: what, why, and the buttons (commands on Matrix)."""
    if message.kind != "page" or not message.reference:
        return Message(
            text=message.text(), title=message.headline, link=message.incident_url or None
        )
    ref = message.reference
    buttons = (
        Button("ack", "Acknowledge", ref, f"ack {ref}", "primary", "✅"),
        Button("resolve", "Resolve", ref, f"resolve {ref}", "danger"),
    )
    return Message(
        text=f"{message.headline}: {message.reason}",
        title=message.headline,
        link=message.incident_url or None,
        fields=(
            Field("Severity", message.severity or "not set"),
            Field("Urgency", message.urgency),
            Field("Status", message.status),
            Field("Services", ", ".join(message.services) or "none"),
            Field("Why you", message.reason, short=False),
        ),
        buttons=buttons,
        context="A page from Tocsin. Acknowledging stops the paging.",
    )


@dataclass(frozen=True)
class ChatPageChannel:
    """notify's channel for contact methods of kind "chat"."""

    guard: OutboundGuard
    timeout: float

    def send(self, message: PageMessage, destination: Destination) -> None:
        where = json.loads(destination.target)
        connection = Connection(
            base_url=where["base_url"],
            team=where["team"] or None,
            bot_user_id=where["bot"] or None,
            secrets=json.loads(destination.secret),
        )
        client = client_for(
            where["vendor"], connection, guard=self.guard, timeout=self.timeout,
            callback_base=where["callback"],
        )  # fmt: skip
        try:
            client.post(client.direct(where["user"]), page_message(message))
        except ChatError as exc:
            if not exc.retryable:
                raise NotLinked(exc.message, status=exc.status) from exc
            raise DeliveryFailed(
                exc.message, status=exc.status, retry_after=exc.retry_after
            ) from exc


def channel(settings: Settings) -> ChatPageChannel:
    return ChatPageChannel(OutboundGuard.from_settings(settings), settings.chat_timeout_seconds)
