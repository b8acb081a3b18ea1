"""Slack's Web API as Tocsin's chat client, through the official `slack_sdk`.

The client sends as the connection's bot (`bot_token`), checks Slack's host with the
outbound guard before every call, and never lets the SDK retry on its own: the job runner
owns retries, so every failure becomes one `ChatError` saying whether trying again may
help. Slack's requests to Tocsin are read by `SlackReceiver` (slack_receive.py, re-exported
here so the vendor is one import); rendering is in slack_render.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPException
from typing import Any
from urllib.parse import urlencode, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from tocsin.chat.ports import (
    Channel,
    ChatError,
    ChatMessage,
    ChatUser,
    Connection,
    Form,
    Inbound,
    Message,
)
from tocsin.chat.slack_receive import SlackReceiver
from tocsin.chat.slack_render import (
    channel_name,
    fallback_text,
    form_view,
    header,
    message_blocks,
    suffixed,
)
from tocsin.outbound import OutboundGuard, OutboundRefused

__all__ = ["SLACK_API", "SlackClient", "SlackReceiver", "channel_name"]

SLACK_API = "https://slack.com/api/"
INVITE_BATCH = 1_000  # conversations.invite takes at most 1000 users a call
TOPIC_MAX = 250
NAME_ATTEMPTS = 50  # name, name-2 … name-50: past that the name is not the problem

# Slack's error words that mean the bot's token is unusable.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
# Error words for Slack's own trouble, worth trying again.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "request_timeout", "internal_error", "fatal_error",
     "service_unavailable"}
)  # fmt: skip


def _retry_after(value: str | None) -> float | None:
    """Slack's Retry-After: whole seconds."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _error(what: str, response: SlackResponse) -> ChatError:
    """The ChatError for a Slack answer that was not a success."""
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data["error"]) if isinstance(data.get("error"), str) else None
    if status == 429:
        wait = _retry_after(header(response.headers, "Retry-After"))
        return ChatError(
            f"Slack is rate limiting Tocsin's calls to {what}"
            + (f"; it asked to wait {wait:g} s" if wait is not None else ""),
            retryable=True,
            retry_after=wait,
            status=status,
            code=code or "ratelimited",
        )
    if status >= 500:
        return ChatError(
            f"Slack failed to {what} (HTTP {status})", retryable=True, status=status, code=code
        )
    if code is None:
        return ChatError(
            f"Slack answered a request to {what} with HTTP {status} and no error word",
            retryable=status >= 500,
            status=status,
        )
    if code in AUTH_ERRORS:
        message = (
            f"Slack refused the bot token ({code}): reinstall Tocsin's Slack app or update "
            "the connection's bot token"
        )
    elif code == "missing_scope":
        needed = data.get("needed") or "another scope"
        message = (
            f"Tocsin's Slack app lacks the scope {needed} needed to {what}: add it under "
            "OAuth & Permissions and reinstall the app"
        )
    elif code == "not_in_channel":
        message = f"Tocsin's bot is not in the channel, so it cannot {what}: invite it there"
    elif code == "channel_not_found":
        message = (
            f"Slack found no channel to {what}: it was deleted, or it is private and the "
            "bot is not in it"
        )
    elif code == "is_archived":
        message = f"the channel is archived, so Slack will not {what}"
    elif code in ("user_not_found", "users_not_found"):
        message = f"Slack knows no such person (while trying to {what})"
    else:
        message = f"Slack refused to {what}: {code}"
    return ChatError(message, retryable=code in TRANSIENT_ERRORS, status=status, code=code)


class SlackClient:
    """`ChatClient` for Slack's Web API, as the connection's bot."""

    def __init__(self, connection: Connection, *, guard: OutboundGuard, timeout: float) -> None:
        base_url = connection.base_url or SLACK_API
        self.connection = connection
        self.guard = guard
        self.timeout = timeout
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.web = WebClient(
            token=connection.secrets["bot_token"],
            base_url=self.base_url,
            # The SDK takes whole seconds; rounding up never cuts a call short.
            timeout=max(1, math.ceil(timeout)),
            # No retries inside the SDK: the job runner retries with its own policy.
            retry_handlers=[],
        )

    def _call(
        self, what: str, method: Callable[..., SlackResponse], /, **arguments: Any
    ) -> SlackResponse:
        """Slack's successful answer to one Web API call; ChatError for anything else."""
        parts = urlsplit(self.base_url)
        try:
            self.guard.check_host(parts.hostname or "", parts.port)
        except OutboundRefused as exc:
            raise ChatError(f"Slack at {parts.hostname}: {exc.reason}") from exc
        try:
            return method(**arguments)
        except SlackApiError as exc:
            raise _error(what, exc.response) from exc
        except TimeoutError as exc:
            raise ChatError(
                f"Slack did not answer within {self.timeout:g} s (to {what})", retryable=True
            ) from exc
        except (OSError, HTTPException) as exc:
            raise ChatError(
                f"could not reach Slack at {parts.hostname} to {what}: {exc}", retryable=True
            ) from exc

    def create_channel(self, name: str, *, private: bool, topic: str) -> Channel:
        """A new channel named after `name`; a name taken gets "-2", "-3"… until one is free."""
        base = channel_name(name)
        for number in range(1, NAME_ATTEMPTS + 1):
            candidate = base if number == 1 else suffixed(base, number)
            try:
                response = self._call(
                    "create a channel",
                    self.web.conversations_create,
                    name=candidate,
                    is_private=private,
                )
            except ChatError as exc:
                if exc.code == "name_taken":
                    continue
                raise
            channel = response["channel"]
            break
        else:
            raise ChatError(
                f"Slack has channels named {base} and {base}-2 to {base}-{NAME_ATTEMPTS}: "
                "archive some or choose another name",
                code="name_taken",
            )
        channel_id = str(channel["id"])
        if topic:
            self._call(
                "set the channel's topic",
                self.web.conversations_setTopic,
                channel=channel_id,
                topic=topic[:TOPIC_MAX],
            )
        query = {"channel": channel_id} | (
            {"team": self.connection.team} if self.connection.team else {}
        )
        url = "https://slack.com/app_redirect?" + urlencode(query)
        return Channel(id=channel_id, name=str(channel.get("name", candidate)), url=url)

    def _invite(self, channel_id: str, users: Sequence[str]) -> None:
        try:
            self._call(
                "invite people to the channel",
                self.web.conversations_invite,
                channel=channel_id,
                users=list(users),
            )
        except ChatError as exc:
            if exc.code != "already_in_channel":
                raise
            # Slack refuses the whole batch when one of them is in already: invite the
            # others one at a time.
            if len(users) > 1:
                for user in users:
                    self._invite(channel_id, [user])

    def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Invite people, at most 1000 a call; those in the channel already are skipped."""
        # The bot is in the channels it made, and Slack refuses to invite it (cant_invite_self).
        users = list(dict.fromkeys(u for u in user_ids if u != self.connection.bot_user_id))
        for start in range(0, len(users), INVITE_BATCH):
            self._invite(channel_id, users[start : start + INVITE_BATCH])

    def post(self, channel_id: str, message: Message) -> str:
        """Post a message; its ts."""
        response = self._call(
            "post a message",
            self.web.chat_postMessage,
            channel=channel_id,
            text=fallback_text(message),
            blocks=message_blocks(message),
        )
        return str(response["ts"])

    def update(self, channel_id: str, message_id: str, message: Message) -> None:
        """Replace the text and blocks of a message the bot posted."""
        self._call(
            "edit a message",
            self.web.chat_update,
            channel=channel_id,
            ts=message_id,
            text=fallback_text(message),
            blocks=message_blocks(message),
        )

    def pin(self, channel_id: str, message_id: str) -> None:
        """Pin a message; one pinned already is fine."""
        try:
            self._call("pin a message", self.web.pins_add, channel=channel_id, timestamp=message_id)
        except ChatError as exc:
            if exc.code != "already_pinned":
                raise

    def archive(self, channel_id: str) -> None:
        """Archive the channel; one archived already is fine."""
        try:
            self._call("archive the channel", self.web.conversations_archive, channel=channel_id)
        except ChatError as exc:
            if exc.code != "already_archived":
                raise

    def direct(self, user_id: str) -> str:
        """The id of the bot's direct conversation with the person."""
        response = self._call(
            "open a direct conversation", self.web.conversations_open, users=[user_id]
        )
        return str(response["channel"]["id"])

    def open_form(self, trigger: str, form: Form) -> None:
        """Show the form as a modal to whoever made `trigger` (valid for 3 seconds)."""
        try:
            view = form_view(form)
        except ValueError as exc:
            raise ChatError(str(exc)) from exc
        self._call("open a form", self.web.views_open, trigger_id=trigger, view=view)

    def fetch_message(self, channel_id: str, message_id: str) -> ChatMessage:
        """The message with this ts, as it is now."""
        response = self._call(
            "read a message",
            self.web.conversations_history,
            channel=channel_id,
            latest=message_id,
            oldest=message_id,
            inclusive=True,
            limit=1,
        )
        messages = response.get("messages") or []
        if not messages:
            raise ChatError(
                f"Slack has no message {message_id} in the channel: it was deleted",
                code="message_not_found",
            )
        found = messages[0]
        return ChatMessage(
            id=str(found["ts"]),
            channel_id=channel_id,
            user_id=str(found.get("user") or found.get("bot_id") or ""),
            text=str(found.get("text", "")),
            at=float(found["ts"]),
        )

    def user(self, user_id: str) -> ChatUser:
        """A person; the email is there when the bot may read it (Slack verifies them)."""
        response = self._call("read a person's profile", self.web.users_info, user=user_id)
        return _chat_user(response["user"])

    def find_user_by_email(self, email: str) -> ChatUser | None:
        """The person with this email, or None."""
        try:
            response = self._call(
                "find a person by email", self.web.users_lookupByEmail, email=email
            )
        except ChatError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        return _chat_user(response["user"])

    def post_private(self, channel_id: str, user_id: str, message: Message) -> None:
        """An ephemeral message: only `user_id` sees it, in the channel."""
        self._call(
            "post a private message",
            self.web.chat_postEphemeral,
            channel=channel_id,
            user=user_id,
            text=fallback_text(message),
            blocks=message_blocks(message),
        )

    def join(self, channel_id: str) -> None:
        """Nothing: people add the bot to Slack channels."""

    def poll(self, channel_id: str, since: float) -> list[Inbound]:
        """Nothing: Slack pushes reactions, edits and deletions through the Events API."""
        return []


def _chat_user(user: Mapping[str, Any]) -> ChatUser:
    profile = user.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or user.get("name") or ""
    email = profile.get("email")
    return ChatUser(
        id=str(user["id"]),
        name=str(name),
        email=str(email) if email and not user.get("is_bot") else None,
    )
