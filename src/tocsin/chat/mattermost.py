"""Mattermost: the client for its REST API v4, as the connection's bot, and the receiver of
its slash commands, interactive buttons and dialog submissions.

Mattermost publishes no Python client, so requests go through httpx, each checked by the
outbound guard first and never following a redirect (one could lead past the guard).
Mattermost pushes nothing else to an integration: reactions, edits and deletions are read by
`poll`. Inbound requests carry no signature; each kind is verified by a secret of its own
(the slash command's token, the secret in a button's context, the HMAC in a dialog's state).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tocsin.chat import mattermost_render as render
from tocsin.chat.ports import (
    Answer,
    ButtonPressed,
    Channel,
    ChatError,
    ChatMessage,
    ChatRefused,
    ChatUser,
    Command,
    Connection,
    Form,
    FormSubmitted,
    Inbound,
    Message,
    MessageDeleted,
    MessageEdited,
    Parsed,
    Reaction,
    Reply,
)
from tocsin.outbound import OutboundGuard, OutboundRefused

VENDOR = "Mattermost"
DETAIL_MAX = 300
NAME_TAKEN = "store.sql_channel.save_channel.exists.app_error"
ALREADY_ARCHIVED = "api.channel.delete_channel.deleted.app_error"
NAME_ATTEMPTS = 20
# The reactions Tocsin reads, by Mattermost's emoji name.
EMOJI = {"pushpin": "📌", "white_check_mark": "✅"}


def _wait(response: httpx.Response) -> float | None:
    """Seconds Mattermost asked to wait: Retry-After (seconds or a date), else its
    X-Ratelimit-Reset (seconds until the limit resets)."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    reset = response.headers.get("X-Ratelimit-Reset", "").strip()
    return float(reset) if reset.isdigit() else None


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """Mattermost's error id and message from an error answer (its AppError body)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None, response.text.strip()[:DETAIL_MAX]
    if not isinstance(body, dict):
        return None, ""
    code = body.get("id") if isinstance(body.get("id"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    return code, str(message)[:DETAIL_MAX]


def chat_error(response: httpx.Response, what: str) -> ChatError:
    """The ChatError for a Mattermost answer that is not a success."""
    status = response.status_code
    code, message = _error_of(response)
    said = f": {message}" if message else ""
    if status == 429:
        wait = _wait(response)
        return ChatError(
            f"{VENDOR} is rate limiting Tocsin (HTTP 429)"
            + (f"; it asked to wait {wait:g} s" if wait is not None else ""),
            retryable=True, retry_after=wait, status=status, code=code,
        )  # fmt: skip
    if status >= 500:
        return ChatError(
            f"{VENDOR} failed to {what} (HTTP {status}){said}",
            retryable=True, status=status, code=code,
        )  # fmt: skip
    if status == 401:
        text = (
            f"{VENDOR} refused the bot token (HTTP 401){said}: check the connection's bot "
            "access token, and that the bot account is enabled"
        )
    elif status == 403:
        text = (
            f"{VENDOR} does not allow the bot to {what} (HTTP 403){said}: give the bot the "
            "permission, or add it to the team or channel"
        )
    elif status == 404:
        text = f"{VENDOR} found nothing to {what} (HTTP 404){said}: check that it still exists"
    elif 300 <= status < 400:
        text = (
            f"{VENDOR} redirected the request to {what} (HTTP {status}), which Tocsin does not "
            "follow: check the connection's server URL"
        )
    else:
        text = f"{VENDOR} refused to {what} (HTTP {status}){said}"
    return ChatError(text, status=status, code=code)


@dataclass(frozen=True)
class _Api:
    """Requests to one Mattermost server as its bot: guarded, bounded, not redirected."""

    base_url: str
    token: str
    guard: OutboundGuard
    timeout: float

    def send(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Mattermost's answer, whatever its status; ChatError if none came."""
        url = self.base_url.rstrip("/") + "/api/v4" + path
        host = urlsplit(url).hostname or ""
        try:
            self.guard.check_host(host, urlsplit(url).port)
        except OutboundRefused as exc:
            raise ChatError(f"{VENDOR} at {host}: {exc.reason}") from exc
        try:
            return httpx.request(
                method, url, json=body, params=params, timeout=self.timeout,
                follow_redirects=False,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )  # fmt: skip
        except httpx.TimeoutException as exc:
            raise ChatError(
                f"{VENDOR} did not answer within {self.timeout:g} s", retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise ChatError(f"could not reach {VENDOR} at {host}: {exc}", retryable=True) from exc

    def call(
        self, method: str, path: str, *, what: str, body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:  # fmt: skip
        """The JSON of a 2xx answer (None if empty); ChatError for anything else."""
        return self.read(self.send(method, path, body=body, params=params), what)

    def read(self, response: httpx.Response, what: str) -> Any:
        """The JSON of a 2xx answer (None if empty); ChatError for anything else."""
        if not 200 <= response.status_code < 300:
            raise chat_error(response, what)
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise ChatError(f"{VENDOR} answered the request to {what} with no JSON") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChatError(f"{VENDOR} answered the request to {what} with no object")
    return value


def _chat_user(user: Mapping[str, Any]) -> ChatUser:
    full = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    email = user.get("email")
    verified = user.get("email_verified") is True and isinstance(email, str) and bool(email)
    return ChatUser(
        id=str(user.get("id", "")),
        name=full or str(user.get("username", "")),
        email=str(email) if verified else None,
    )


class MattermostClient:
    """`ChatClient` for one Mattermost team, as the connection's bot."""

    def __init__(
        self, connection: Connection, *, guard: OutboundGuard, timeout: float,
        callback_base: str,
    ) -> None:  # fmt: skip
        self.connection = connection
        self.api = _Api(connection.base_url, connection.secrets["bot_token"], guard, timeout)
        self.actions_url = callback_base + "actions"
        self.dialogs_url = callback_base + "dialogs"
        self.secret = connection.secrets["action_secret"]

    def _post_body(self, message: Message) -> dict[str, Any]:
        return render.post_body(message, actions_url=self.actions_url, secret=self.secret)

    def create_channel(self, name: str, *, private: bool, topic: str) -> Channel:
        """A new channel in the team; a handle already taken gets "-2", "-3", … appended."""
        base = render.channel_name(name)
        body = {
            "team_id": self.connection.team or "",
            "display_name": render.no_mentions(name)[: render.DISPLAY_NAME_MAX],
            "type": "P" if private else "O",
            "purpose": topic,
            "header": render.no_mentions(topic),
        }
        for attempt in range(1, NAME_ATTEMPTS + 1):
            handle = base if attempt == 1 else render.suffixed(base, attempt)
            response = self.api.send("POST", "/channels", body={**body, "name": handle})
            if response.status_code == 400 and _error_of(response)[0] == NAME_TAKEN:
                continue
            made = _object(self.api.read(response, "create a channel"), "create a channel")
            return Channel(id=str(made["id"]), name=str(made.get("name", handle)))
        raise ChatError(
            f"{VENDOR} has channels named {base} and {base}-2 to -{NAME_ATTEMPTS} already: "
            "archive some or choose another name",
            code=NAME_TAKEN,
        )

    def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Add each person to the channel; Mattermost answers a member with success."""
        for user_id in user_ids:
            self.api.call(
                "POST", f"/channels/{quote(channel_id)}/members", body={"user_id": user_id},
                what="add a person to the channel",
            )  # fmt: skip

    def post(self, channel_id: str, message: Message) -> str:
        """Post `message` in the channel; the post's id."""
        body = {"channel_id": channel_id, **self._post_body(message)}
        made = _object(self.api.call("POST", "/posts", body=body, what="post"), "post")
        return str(made["id"])

    def update(self, channel_id: str, message_id: str, message: Message) -> None:
        """Replace a post's message and attachment."""
        self.api.call(
            "PUT", f"/posts/{quote(message_id)}/patch", body=self._post_body(message),
            what="edit the message",
        )  # fmt: skip

    def pin(self, channel_id: str, message_id: str) -> None:
        """Pin a post (pinning a pinned post succeeds)."""
        self.api.call("POST", f"/posts/{quote(message_id)}/pin", what="pin the message")

    def archive(self, channel_id: str) -> None:
        """Archive the channel: Mattermost's soft delete, which keeps its history."""
        response = self.api.send("DELETE", f"/channels/{quote(channel_id)}")
        if response.status_code == 400 and _error_of(response)[0] == ALREADY_ARCHIVED:
            return
        if not 200 <= response.status_code < 300:
            raise chat_error(response, "archive the channel")

    def direct(self, user_id: str) -> str:
        """The id of the direct channel between the bot and the person (made if need be)."""
        bot = self.connection.bot_user_id
        if not bot:
            raise ChatError("the Mattermost connection has no bot user id: set it to message")
        made = self.api.call(
            "POST", "/channels/direct", body=[bot, user_id], what="open a direct message"
        )
        return str(_object(made, "open a direct message")["id"])

    def open_form(self, trigger: str, form: Form) -> None:
        """Open an interactive dialog for whoever's action gave `trigger`."""
        body = {
            "trigger_id": trigger,
            "url": self.dialogs_url,
            "dialog": render.dialog(form, secret=self.secret),
        }
        self.api.call("POST", "/actions/dialogs/open", body=body, what="open a dialog")

    def fetch_message(self, channel_id: str, message_id: str) -> ChatMessage:
        """A post as it is now."""
        post = _object(
            self.api.call("GET", f"/posts/{quote(message_id)}", what="read the message"),
            "read the message",
        )
        return ChatMessage(
            id=str(post["id"]),
            channel_id=str(post.get("channel_id", channel_id)),
            user_id=str(post.get("user_id", "")),
            text=str(post.get("message", "")),
            at=float(post.get("create_at", 0)) / 1000,
        )

    def user(self, user_id: str) -> ChatUser:
        """A person; their email only when Mattermost shows it and says it is verified."""
        found = self.api.call("GET", f"/users/{quote(user_id)}", what="read the person")
        return _chat_user(_object(found, "read the person"))

    def find_user_by_email(self, email: str) -> ChatUser | None:
        """The person whose verified email this is, or None."""
        response = self.api.send("GET", f"/users/email/{quote(email, safe='@')}")
        if response.status_code == 404:
            return None
        found = self.api.read(response, "find a person by email")
        person = _chat_user(_object(found, "find a person by email"))
        return person if person.email is not None else None

    def post_private(self, channel_id: str, user_id: str, message: Message) -> None:
        """An ephemeral post only this person sees, in the channel."""
        body = {"user_id": user_id, "post": {"channel_id": channel_id, **self._post_body(message)}}
        self.api.call("POST", "/posts/ephemeral", body=body, what="post a private message")

    def join(self, channel_id: str) -> None:
        """Nothing: people add the bot to Mattermost channels."""

    def poll(self, channel_id: str, since: float) -> list[Inbound]:
        """People's 📌 and ✅ reactions added, and their posts edited or deleted, since `since`
        (Unix time); the bot's own posts and reactions are left out."""
        after = max(1, int(since * 1000))  # Mattermost reads since=0 as "no since"
        listing = _object(
            self.api.call(
                "GET", f"/channels/{quote(channel_id)}/posts", params={"since": str(after)},
                what="read the channel's posts",
            ),
            "read the channel's posts",
        )  # fmt: skip
        posts = listing.get("posts") or {}
        order = [i for i in listing.get("order") or [] if i in posts] or list(posts)
        bot = self.connection.bot_user_id
        events: list[Inbound] = []
        for post_id in reversed(order):  # Mattermost lists the newest first
            post = posts[post_id]
            by = str(post.get("user_id", ""))
            mine = bot is not None and by == bot
            if int(post.get("delete_at") or 0) > after:
                if not mine:
                    events.append(MessageDeleted(channel_id=channel_id, message_id=post_id))
                continue
            if not mine and int(post.get("edit_at") or 0) > after:
                events.append(
                    MessageEdited(
                        channel_id=channel_id, message_id=post_id,
                        text=str(post.get("message", "")), user_id=by,
                    )
                )  # fmt: skip
            for reaction in (post.get("metadata") or {}).get("reactions") or []:
                emoji = EMOJI.get(str(reaction.get("emoji_name")))
                who = str(reaction.get("user_id", ""))
                if emoji and int(reaction.get("create_at") or 0) > after and who != bot:
                    events.append(
                        Reaction(
                            user_id=who, channel_id=channel_id, message_id=post_id, emoji=emoji
                        )
                    )
        return events


# --- Inbound -------------------------------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the request is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the request is not a JSON object")
    return data


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"the request has no {name}")
    return value


class MattermostReceiver:
    """`Receiver` for Mattermost's slash commands, button actions and dialog submissions;
    `callback_base` is where Tocsin serves them, as given to the client (buttons in answers
    call back there)."""

    routes: tuple[str, ...] = ("commands", "actions", "dialogs")

    def __init__(self, connection: Connection, *, callback_base: str) -> None:
        self.connection = connection
        self.actions_url = callback_base + "actions"
        self.command_token = connection.secrets.get("command_token", "")
        self.secret = connection.secrets.get("action_secret", "")

    def parse(self, route: str, headers: Mapping[str, str], body: bytes, *, now: float) -> Parsed:
        """Verify (ChatRefused) and read (ValueError) one request from Mattermost."""
        if route == "commands":
            return Parsed(events=(self._command(headers, body),))
        if route == "actions":
            return Parsed(events=(self._action(body),))
        if route == "dialogs":
            submitted = self._dialog(body)
            return Parsed(events=(submitted,) if submitted is not None else ())
        raise ChatRefused(f"Mattermost sends nothing to {route!r}")

    def _command(self, headers: Mapping[str, str], body: bytes) -> Command:
        try:
            form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise ValueError("the slash command is not text") from exc
        fields = {name: values[0] for name, values in form.items() if values}
        header = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "token" or not _same(token.strip(), self.command_token):
                raise ChatRefused("the slash command's Authorization token is not this bot's")
        if not _same(fields.get("token", ""), self.command_token):
            raise ChatRefused("the slash command's token is not the one set for this bot")
        if self.connection.team and fields.get("team_id") not in (None, self.connection.team):
            raise ChatRefused("the slash command came from another team")
        return Command(
            user_id=_text(fields, "user_id"),
            channel_id=_text(fields, "channel_id"),
            text=fields.get("text", "").strip(),
            trigger=fields.get("trigger_id") or None,
            user_name=fields.get("user_name") or None,
        )

    def _action(self, body: bytes) -> ButtonPressed:
        data = _json_object(body)
        context = data.get("context")
        if not isinstance(context, dict):
            raise ValueError("the button action has no context")
        secret = context.get("secret")
        if not isinstance(secret, str) or not _same(secret, self.secret):
            raise ChatRefused("the button's secret is not this connection's action secret")
        selected = context.get("selected_option") or data.get("selected_option")
        return ButtonPressed(
            user_id=_text(data, "user_id"),
            channel_id=_text(data, "channel_id"),
            message_id=data.get("post_id") or None,
            action=_text(context, "action"),
            value=_text(context, "value", required=False),
            trigger=data.get("trigger_id") or None,
            selected=str(selected) if selected else None,
        )

    def _dialog(self, body: bytes) -> FormSubmitted | None:
        data = _json_object(body)
        if data.get("type", "dialog_submission") != "dialog_submission":
            raise ValueError(f"a dialog request of type {data.get('type')!r}")
        state = render.verify_state(_text(data, "state", required=False), self.secret)
        if state is None:
            raise ChatRefused("the dialog's state does not carry this connection's signature")
        if data.get("cancelled") is True:
            return None
        submission = data.get("submission")
        if not isinstance(submission, dict):
            raise ValueError("the dialog submission has no submission")
        values: dict[str, str | list[str]] = {}
        for name, value in submission.items():
            if isinstance(value, list):
                values[name] = [str(v) for v in value]
            elif value is not None:
                values[name] = value if isinstance(value, str) else json.dumps(value)
        return FormSubmitted(
            user_id=_text(data, "user_id"),
            callback=_text(data, "callback_id", required=False),
            values=values,
            state=state,
            channel_id=data.get("channel_id") or None,
        )

    def answer(self, route: str, event: Inbound | None, reply: Reply | None) -> Answer | None:
        """Mattermost shows the reply from the HTTP answer itself, except a dialog's
        confirmation: a dialog's answer carries only errors, so None has it posted."""
        if route not in self.routes:
            return None
        confirmed = reply is not None and not reply.errors and (reply.text or reply.message)
        if route == "dialogs" and confirmed:
            return None
        body = render.reply_body(
            route, reply or Reply(), actions_url=self.actions_url, secret=self.secret
        )
        return Answer(body=body)
