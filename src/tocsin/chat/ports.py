"""The port every chat service implements (Slack, Mattermost, Matrix), and the neutral
shapes that cross it in both directions.

Outbound, `ChatClient` is what Tocsin asks of a chat service: make a channel (a Matrix room),
invite people, post and edit messages, pin, archive, find people. Clients run in the job
runner's I/O threads (`jobs.registry.Send`): they never touch the database, send every
request through the outbound guard, bound each with the connection's timeout, and raise
`ChatError` (retryable or not, with the service's Retry-After) for anything but success.

Inbound, each vendor module verifies a request (Slack's signature, Mattermost's tokens,
Matrix's homeserver token) and turns it into one or more `Inbound` values; the chat service
acts on those alone, knowing no vendor.

A message is described once (`Message`: text, fields, buttons, link) and each vendor renders
it: Slack as Block Kit, Mattermost as an attachment with interactive actions, Matrix as HTML
with the commands (and reactions) that stand for buttons, since Matrix has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Vendor = Literal["slack", "mattermost", "matrix"]


class ChatError(Exception):
    """A chat service refused or failed a request; `retryable` if trying again may work."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code  # the service's own error word: "channel_not_found", "M_FORBIDDEN"


class ChatRefused(Exception):
    """An inbound request that did not come from the chat service (a bad signature, a stale
    timestamp, a wrong token): answered 401 and acted on not at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- What Tocsin sends -------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Button:
    """A button on a message. `action` is Tocsin's verb ("ack", "resolve", "severity", …),
    `value` what it acts on ("INC-12", "page:42"); `command` is the same action typed as a
    command (`ack INC-12`), which Matrix shows instead of the button."""

    action: str
    label: str
    value: str
    command: str
    style: Literal["primary", "danger"] | None = None
    reaction: str | None = None  # Matrix: the reaction that does the same ("✅")
    # A menu rather than a button (Slack's static select, Mattermost's select): the chosen
    # value comes back as `ButtonPressed.selected`. Matrix shows the command instead.
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Field:
    title: str
    value: str
    short: bool = True


@dataclass(frozen=True)
class Message:
    """A message, described once. `text` is plain (the notification and fallback text);
    `title` links to `link` where the service can; fields are label/value pairs."""

    text: str
    title: str | None = None
    link: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    context: str | None = None  # a small last line: "Tocsin · updated 14:02 UTC"


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Literal["text", "textarea", "select", "multiselect"] = "text"
    choices: tuple[Choice, ...] = ()
    required: bool = True
    initial: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Form:
    """A form to fill in chat: a Slack modal or a Mattermost interactive dialog. Matrix
    has no forms: the service asks for each field in turn instead. `callback` comes back
    with the submission; `state` is echoed back unchanged (Tocsin's own context)."""

    callback: str
    title: str
    submit: str
    fields: tuple[FormField, ...]
    state: str = ""


@dataclass(frozen=True)
class Channel:
    id: str  # Slack "C0123", Mattermost post channel id, Matrix "!room:server"
    name: str
    url: str | None = None  # where a person opens it, when the service has such a link


@dataclass(frozen=True)
class ChatUser:
    id: str  # Slack "U0123", Mattermost user id, Matrix "@alice:server"
    name: str  # display name or username
    email: str | None = None  # only an address the service has verified, else None


@dataclass(frozen=True)
class ChatMessage:
    id: str  # Slack "ts", Mattermost post id, Matrix event id
    channel_id: str
    user_id: str
    text: str
    at: float  # Unix time the message was posted


class ChatClient(Protocol):
    """What Tocsin asks of a chat service, as the connection's bot."""

    def create_channel(self, name: str, *, private: bool, topic: str) -> Channel:
        """A new channel; a name already taken is made unique by the client (a suffix)."""
        ...

    def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Invite people; those already in it are not an error."""
        ...

    def post(self, channel_id: str, message: Message) -> str:
        """Post a message; its id."""
        ...

    def update(self, channel_id: str, message_id: str, message: Message) -> None:
        """Edit a message the bot posted, in place."""
        ...

    def pin(self, channel_id: str, message_id: str) -> None:
        """Pin a message to the channel (already pinned is not an error)."""
        ...

    def archive(self, channel_id: str) -> None:
        """Archive the channel, keeping its history (already archived is not an error)."""
        ...

    def direct(self, user_id: str) -> str:
        """The id of the bot's direct conversation with a person, opened if need be."""
        ...

    def open_form(self, trigger: str, form: Form) -> None:
        """Show a form to whoever triggered `trigger` (Slack's trigger_id, Mattermost's).
        Matrix raises ChatError: it has no forms."""
        ...

    def fetch_message(self, channel_id: str, message_id: str) -> ChatMessage:
        """A message as it is now (to pin it to the timeline)."""
        ...

    def user(self, user_id: str) -> ChatUser:
        """A person, with their verified email when the service tells it."""
        ...

    def find_user_by_email(self, email: str) -> ChatUser | None:
        """The person with this verified email, or None."""
        ...

    def post_private(self, channel_id: str, user_id: str, message: Message) -> None:
        """A message only this person sees (Slack's and Mattermost's ephemeral messages);
        Matrix, which has none, posts it in the bot's direct room with them."""
        ...

    def join(self, channel_id: str) -> None:
        """Join a channel the bot was invited to (Matrix rooms); Slack and Mattermost bots
        are added by people, so this does nothing there."""
        ...

    def poll(self, channel_id: str, since: float) -> list[Inbound]:
        """What changed in a channel since a Unix time, for a service that does not push
        it: Mattermost's reactions, edits and deletions. Slack and Matrix push: []."""
        ...


@dataclass(frozen=True)
class Connection:
    """What a vendor module is given of a connection: where the service is, and the bot's
    credentials, decrypted (names per vendor: Slack `bot_token`, `signing_secret`;
    Mattermost `bot_token`, `command_token`, `action_secret`; Matrix `as_token`,
    `hs_token`)."""

    base_url: str  # Slack's API root, the Mattermost server, the Matrix homeserver
    team: str | None  # Slack workspace id, Mattermost team id, Matrix server name
    bot_user_id: str | None  # the bot's own id (its own messages and reactions are ignored)
    secrets: Mapping[str, str]


# --- What the chat service sends ---------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """`/tocsin <text>` (Slack, Mattermost) or `!tocsin <text>` (Matrix)."""

    user_id: str
    channel_id: str
    text: str  # after the command word: "declare", "ack INC-12", "note the fix is out"
    trigger: str | None = None  # opens a form (Slack, Mattermost)
    message_id: str | None = None  # Matrix: the event carrying the command
    user_name: str | None = None


@dataclass(frozen=True)
class ButtonPressed:
    user_id: str
    channel_id: str
    message_id: str | None
    action: str
    value: str
    trigger: str | None = None
    selected: str | None = None  # a select menu's choice, where the button is a menu


@dataclass(frozen=True)
class FormSubmitted:
    user_id: str
    callback: str
    values: Mapping[str, str | list[str]]
    state: str = ""
    channel_id: str | None = None


@dataclass(frozen=True)
class Reaction:
    user_id: str
    channel_id: str
    message_id: str  # the message reacted to
    emoji: str  # the character itself ("📌"), whatever the service's name for it
    added: bool = True
    reaction_id: str | None = None  # Matrix: the reaction event (removed by redacting it)


@dataclass(frozen=True)
class MessageEdited:
    channel_id: str
    message_id: str  # the original message's id
    text: str
    user_id: str | None = None


@dataclass(frozen=True)
class MessageDeleted:
    channel_id: str
    message_id: str


@dataclass(frozen=True)
class Invited:
    """Matrix: the bot was invited to a room (it joins rooms it is invited to, to hear
    commands there)."""

    channel_id: str
    user_id: str


Inbound = (
    Command | ButtonPressed | FormSubmitted | Reaction | MessageEdited | MessageDeleted | Invited
)


@dataclass(frozen=True)
class Reply:
    """What the service answers a command, a button or a form with. Slack and Mattermost
    show it at once (to the person alone when `private`); Matrix posts it in the room.
    `errors` answers a form with a message per field, keeping it open."""

    text: str = ""
    private: bool = True
    message: Message | None = None
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Parsed:
    """An inbound request, verified and read: the events to act on, or an answer to give
    as is without acting (Slack's url_verification challenge)."""

    events: tuple[Inbound, ...] = ()
    answer: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a chat service's request: status and JSON body (None: empty)."""

    status: int = 200
    body: Mapping[str, Any] | None = None


class Receiver(Protocol):
    """One vendor's inbound side. `routes` are the path names Tocsin serves it under
    (`/chat/{connection}/{route}`); each request is verified and parsed, acted on, then
    answered with the reply to its one event."""

    routes: tuple[str, ...]

    def parse(self, route: str, headers: Mapping[str, str], body: bytes, *, now: float) -> Parsed:
        """Verify (ChatRefused) and read (ValueError for a malformed body) a request."""
        ...

    def answer(self, route: str, event: Inbound | None, reply: Reply | None) -> Answer | None:
        """The HTTP answer carrying `reply`; None when the service cannot show a reply in
        its answer (Slack's buttons, Matrix): the reply is then posted (`post_private`)."""
        ...
