"""Acting on what a chat service sends, knowing no vendor: commands, buttons, forms,
reactions, edits and deletions (`ports.Inbound`), in the request's transaction.

Nothing is done for a chat user who is not linked to an active Tocsin account: they get a
one-time link (and, where the chat service verifies emails, the link is tried by email in
the background). Work that needs the chat service (fetching a pinned message's text, opening
a form) is returned as an `After` to run once the transaction has committed, or queued as a
job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.chat import actions, channels, declaring, people
from tocsin.chat.models import ChatConnection, ChatPin
from tocsin.chat.ports import (
    ButtonPressed,
    ChatMessage,
    Choice,
    Command,
    Form,
    FormField,
    FormSubmitted,
    Inbound,
    Invited,
    MessageDeleted,
    MessageEdited,
    Reaction,
    Reply,
)
from tocsin.config import Settings
from tocsin.errors import DomainError, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.access import can_see
from tocsin.incidents.models import Incident
from tocsin.incidents.queries import get_incident
from tocsin.jobs.queue import enqueue

PIN = "📌"
ACK = ("✅", "✔️", "👍")
PIN_JOB = "chat.pin"
IDENTIFY_JOB = "chat.identify"
JOIN_JOB = "chat.join"
REACT_JOB = "chat.react"

HELP = """Tocsin commands (in an incident's channel the incident can be left out):
• declare [type]: declare an incident
• ack [INC-12]: acknowledge, paging stops
• resolve [INC-12] [how it ended]
• sev [INC-12] SEV2: change the severity
• role [INC-12] <role> <person>: give a role (incident_commander, scribe…)
• update [INC-12] [internal|external] [phase] [text]: post an update (no text: the template)
• note [INC-12] <text>: add a note to the timeline
• page [INC-12] <person>…: page people
• escalate [INC-12]: page the next level of the escalation policy
• status [INC-12]: the incident's status, privately
• link: link your chat account to your Tocsin account
React with 📌 to a message in an incident's channel to put it on the timeline."""


@dataclass(frozen=True)
class After:
    """Something to do with the chat service once the transaction committed: show a form."""

    form: Form
    trigger: str


@dataclass(frozen=True)
class Outcome:
    reply: Reply | None = None
    after: After | None = None


def _unlinked(
    session: Session, connection: ChatConnection, chat_user_id: str, name: str, settings: Settings
) -> Reply:
    path = people.start_link(session, connection, chat_user_id, name)
    if connection.vendor != "matrix":
        enqueue(
            session, IDENTIFY_JOB, {"connection_id": connection.id, "chat_user_id": chat_user_id}
        )
    url = settings.public_url().rstrip("/") + path
    by_email = (
        " If your chat account's email is verified and is your Tocsin email, you will be "
        "linked within a minute."
        if connection.vendor != "matrix"
        else ""
    )
    return Reply(
        text=(
            "Your chat account is not linked to a Tocsin account yet, so nothing was done. "
            f"Open {url} (signed in to Tocsin, within {people.LINK_MINUTES} minutes) to link "
            f"them.{by_email}"
        )
    )


def handle(
    session: Session, connection: ChatConnection, event: Inbound, settings: Settings
) -> Outcome:
    """Act on one event from the chat service."""
    if isinstance(event, Invited):
        enqueue(session, JOIN_JOB, {"connection_id": connection.id, "room": event.channel_id})
        return Outcome()
    if isinstance(event, MessageEdited | MessageDeleted):
        _revise(session, connection, event)
        return Outcome()
    user_id = event.user_id
    if isinstance(event, Command) and event.text.strip().lower() in ("help", ""):
        return Outcome(Reply(text=HELP))
    if isinstance(event, Command) and event.text.strip().lower() == "link":
        return Outcome(_unlinked(session, connection, user_id, event.user_name or "", settings))
    linked = people.identity(session, connection, user_id)
    if linked is None:
        if isinstance(event, Reaction) and event.emoji not in (PIN, *ACK):
            return Outcome()
        if isinstance(event, Reaction) and not event.added:
            return Outcome()
        name = event.user_name if isinstance(event, Command) else ""
        return Outcome(_unlinked(session, connection, user_id, name or "", settings))
    ctx = actions.Context(connection, user_id, linked.user, event.channel_id or "")
    if isinstance(event, Command):
        return _command(session, ctx, event, settings)
    if isinstance(event, ButtonPressed):
        return _button(session, ctx, event)
    if isinstance(event, FormSubmitted):
        return _submitted(session, ctx, event)
    return _reaction(session, ctx, event)


def _command(session: Session, ctx: actions.Context, event: Command, settings: Settings) -> Outcome:
    verb, _, rest = event.text.strip().partition(" ")
    verb = verb.lower()
    talk = declaring.conversation(session, ctx.connection, event.channel_id, ctx.chat_user_id)
    if verb == "declare":
        try:
            actions.responder(ctx)
        except DomainError as exc:
            return Outcome(Reply(text=f"Nothing was declared: {exc}"))
        if event.trigger and ctx.connection.vendor != "matrix":
            return Outcome(after=After(declaring.form(session, rest), event.trigger))
        return Outcome(
            Reply(
                text=declaring.start(
                    session, ctx.connection, event.channel_id, ctx.chat_user_id, rest
                ),
                private=False,
            )
        )
    if talk is not None:  # while asking, everything but a new `declare` is an answer
        said = declaring.answer(session, talk, event.text, by=ctx.user)
        return Outcome(Reply(text=said, private=False))
    if verb == "status":
        try:
            incident, _ = actions.incident_and_rest(session, ctx, rest)
        except DomainError as exc:
            return Outcome(Reply(text=str(exc)))
        link = channels.incident_link(settings.public_url(), incident)
        return Outcome(Reply(message=channels.header(session, incident, link)))
    if verb not in actions.VERBS:
        return Outcome(Reply(text=f"Unknown command {verb!r}.\n{HELP}"))
    private = _restricted_elsewhere(session, ctx, rest)
    return Outcome(Reply(text=actions.perform(session, ctx, verb, rest), private=private))


def _restricted_elsewhere(session: Session, ctx: actions.Context, words: str) -> bool:
    """Whether a command names a restricted incident from outside its own channel: then
    its answer goes to the person alone, so that the channel does not learn of it."""
    try:
        with session.begin_nested():
            incident, _ = actions.incident_and_rest(session, ctx, words)
    except DomainError:
        return False
    if not incident.restricted:
        return False
    here = channels.channel_for(session, ctx.connection, ctx.channel_id)
    return here is None or here.incident_id != incident.id


def _button(session: Session, ctx: actions.Context, event: ButtonPressed) -> Outcome:
    if event.action == "update" and event.trigger and ctx.connection.vendor != "matrix":
        try:
            incident = get_incident(session, event.value, viewer=ctx.user)
        except NotFound as exc:
            return Outcome(Reply(text=str(exc)))
        return Outcome(after=After(_update_form(session, incident), event.trigger))
    if event.action not in actions.VERBS:
        return Outcome(Reply(text=f"Tocsin does not know the button {event.action!r}."))
    # A menu's choice carries all it acts on ("INC-12 SEV2"); a button, its value.
    words = event.selected or event.value
    return Outcome(Reply(text=actions.perform(session, ctx, event.action, words)))


def _update_form(session: Session, incident: Incident) -> Form:
    ref = incident.reference
    return Form(
        callback="update",
        title=f"Update {ref}"[:24],
        submit="Post",
        fields=(
            FormField(
                "visibility",
                "Audience",
                "select",
                (Choice("internal", "Internal"), Choice("external", "External (status pages)")),
                initial="internal",
            ),
            FormField(
                "phase",
                "Phase",
                "select",
                tuple(
                    Choice(p, p.capitalize())
                    for p in ("investigating", "identified", "monitoring", "resolved")
                ),
                initial=actions.incident_phase(incident),
            ),
            FormField(
                "body",
                "Update",
                "textarea",
                required=False,
                hint="Left empty: the phase's template",
            ),
        ),
        state=ref,
    )


def _submitted(session: Session, ctx: actions.Context, event: FormSubmitted) -> Outcome:
    values = dict(event.values)
    if event.callback == declaring.CALLBACK:
        try:
            actions.responder(ctx)
            with session.begin_nested():
                incident = declaring.declare(session, values, event.state, by=ctx.user)
        except DomainError as exc:
            return Outcome(Reply(text=exc.message, errors={exc.field or "title": exc.message}))
        return Outcome(
            Reply(text=f"Declared {incident.reference}: {incident.title}.", private=False)
        )
    if event.callback == "update":
        words = " ".join(str(values.get(k) or "") for k in ("visibility", "phase", "body"))
        return Outcome(
            Reply(text=actions.perform(session, ctx, "update", f"{event.state} {words}"))
        )
    return Outcome(Reply(text="Tocsin does not know this form."))


def _reaction(session: Session, ctx: actions.Context, event: Reaction) -> Outcome:
    if event.emoji in ACK and event.added:
        channel = channels.channel_for(session, ctx.connection, event.channel_id)
        if channel is not None and channel.header_message_id == event.message_id:
            ref = channel.incident.reference
            return Outcome(Reply(text=actions.perform(session, ctx, "ack", ref), private=False))
        # Elsewhere (a page in the bot's direct room): the message names the incident.
        enqueue(
            session,
            REACT_JOB,
            {
                "connection_id": ctx.connection.id,
                "channel_id": event.channel_id,
                "message_id": event.message_id,
                "chat_user_id": ctx.chat_user_id,
            },
        )
        return Outcome()
    if event.emoji != PIN:
        return Outcome()
    channel = channels.channel_for(session, ctx.connection, event.channel_id)
    if channel is None:
        return Outcome()
    if not event.added:
        _unpin(session, ctx.connection, event.channel_id, event.message_id)
        return Outcome()
    if not can_see(session, ctx.user, channel.incident):
        return Outcome()
    enqueue(
        session,
        PIN_JOB,
        {
            "connection_id": ctx.connection.id,
            "channel_id": event.channel_id,
            "message_id": event.message_id,
            "reaction_id": event.reaction_id or "",
            "by_user_id": ctx.user.id,
        },
        key=f"{PIN_JOB}:{ctx.connection.id}:{event.channel_id}:{event.message_id}"[:200],
    )
    return Outcome()


def pin(
    session: Session,
    connection: ChatConnection,
    message: ChatMessage,
    reaction_id: str,
    author: str,
) -> ChatPin | None:
    """Put a fetched chat message on its channel's incident timeline (once)."""
    channel = channels.channel_for(session, connection, message.channel_id)
    if channel is None:
        return None
    existing = session.scalar(
        select(ChatPin).where(
            ChatPin.connection_id == connection.id,
            ChatPin.channel_id == message.channel_id,
            ChatPin.message_id == message.id,
        )
    )
    if existing is not None:
        return existing
    linked = people.identity(session, connection, message.user_id)
    entry = incidents.add_chat_message(
        session,
        channel.incident,
        message.text,
        by=linked.user if linked else None,
        author=author or message.user_id,
        where=f"#{channel.name}",
        occurred_at=datetime.fromtimestamp(message.at, UTC),
    )
    found = ChatPin(
        connection_id=connection.id,
        channel_id=message.channel_id,
        message_id=message.id,
        reaction_id=reaction_id,
        incident_id=channel.incident_id,
        timeline_entry_id=entry.id,
        author_chat_id=message.user_id,
    )
    session.add(found)
    session.flush()
    return found


def _pin_for(
    session: Session, connection: ChatConnection, channel_id: str, message_id: str
) -> ChatPin | None:
    return session.scalar(
        select(ChatPin).where(
            ChatPin.connection_id == connection.id,
            ChatPin.channel_id == channel_id,
            (ChatPin.message_id == message_id) | (ChatPin.reaction_id == message_id),
        )
    )


def _unpin(session: Session, connection: ChatConnection, channel_id: str, message_id: str) -> None:
    found = _pin_for(session, connection, channel_id, message_id)
    if found is None or found.timeline_entry_id is None:
        return
    channel = channels.channel_for(session, connection, channel_id)
    if channel is not None:
        incidents.revise_chat_message(session, channel.incident, found.timeline_entry_id, None)
    session.delete(found)
    session.flush()


def _revise(
    session: Session, connection: ChatConnection, event: MessageEdited | MessageDeleted
) -> None:
    found = _pin_for(session, connection, event.channel_id, event.message_id)
    if found is None or found.timeline_entry_id is None:
        return
    channel = channels.channel_for(session, connection, event.channel_id)
    if channel is None:
        return
    if isinstance(event, MessageDeleted):
        # Matrix: redacting the 📌 reaction unpins; redacting the message deletes it.
        incidents.revise_chat_message(session, channel.incident, found.timeline_entry_id, None)
        session.delete(found)
        session.flush()
        return
    incidents.revise_chat_message(session, channel.incident, found.timeline_entry_id, event.text)
