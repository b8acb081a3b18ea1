"""Slack's requests to Tocsin: slash commands, interactivity (buttons, modal submissions)
and the Events API (reactions, edits, deletions), each verified by Slack's v0 signature
(HMAC-SHA256 with the app's signing secret) before anything in it is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from tocsin.chat.ports import (
    Answer,
    ButtonPressed,
    ChatRefused,
    Command,
    Connection,
    FormSubmitted,
    Inbound,
    MessageDeleted,
    MessageEdited,
    Parsed,
    Reaction,
    Reply,
)
from tocsin.chat.slack_render import (
    ACTION_PREFIX,
    DUPLICATE_MARK,
    fallback_text,
    header,
    message_blocks,
)

SIGNATURE_MAX_AGE = 5 * 60

# Slack names emoji; Tocsin acts on the characters.
EMOJI = {
    "pushpin": "📌",
    "round_pushpin": "📍",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "ballot_box_with_check": "☑️",
    "eyes": "👀",
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "x": "❌",
    "warning": "⚠️",
    "rotating_light": "🚨",
    "fire": "🔥",
    "memo": "📝",
}


def emoji(name: str) -> str:
    """The character for a Slack emoji name (skin tone dropped); ":name:" for others."""
    base = name.split("::", 1)[0]
    return EMOJI.get(base, f":{base}:")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _form(body: bytes) -> dict[str, str]:
    """A form-encoded body's fields (each first value); ValueError when it is not one."""
    fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    return {key: values[0] for key, values in fields.items()}


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"Slack's {what} is not a JSON object")
    return value


class SlackReceiver:
    """`Receiver` for Slack: slash commands, interactivity (buttons, modals) and events."""

    routes: tuple[str, ...] = ("commands", "interactivity", "events")

    def __init__(self, connection: Connection) -> None:
        self.signing_secret = connection.secrets["signing_secret"]
        self.bot_user_id = connection.bot_user_id

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """ChatRefused unless Slack signed this body within the last five minutes."""
        timestamp = header(headers, "X-Slack-Request-Timestamp")
        signature = header(headers, "X-Slack-Signature")
        if not timestamp or not signature:
            raise ChatRefused("the request carries no Slack signature and timestamp")
        if not timestamp.isdigit():
            raise ChatRefused("the request's Slack timestamp is not a Unix time")
        if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE:
            raise ChatRefused(
                "the request's Slack timestamp is more than five minutes away from now "
                "(a replayed request, or a clock that is off)"
            )
        expected = sign(self.signing_secret, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ChatRefused(
                "the request's Slack signature does not match the connection's signing secret"
            )

    def parse(self, route: str, headers: Mapping[str, str], body: bytes, *, now: float) -> Parsed:
        """Verify (ChatRefused) and read (ValueError for a malformed body) a request."""
        if route not in self.routes:
            raise ValueError(f"Slack sends nothing to {route!r}")
        self.verify(headers, body, now=now)
        try:
            if route == "commands":
                return Parsed(events=(self._command(_form(body)),))
            if route == "interactivity":
                payload = _form(body).get("payload")
                if payload is None:
                    raise ValueError("Slack's interactivity request has no payload")
                return self._interaction(_object(json.loads(payload), "payload"))
            return self._event(_object(json.loads(body), "event request"))
        except (KeyError, TypeError, AttributeError) as exc:
            # A field of the wrong shape deep in Slack's JSON: as malformed as bad JSON.
            raise ValueError(f"Slack's {route} request is malformed ({exc!r})") from exc

    def _command(self, fields: Mapping[str, str]) -> Command:
        if not fields.get("user_id") or not fields.get("channel_id"):
            raise ValueError("Slack's slash command has no user_id or channel_id")
        return Command(
            user_id=fields["user_id"],
            channel_id=fields["channel_id"],
            text=fields.get("text", "").strip(),
            trigger=fields.get("trigger_id") or None,
            user_name=fields.get("user_name") or None,
        )

    def _interaction(self, payload: dict[str, Any]) -> Parsed:
        kind = payload.get("type")
        user_id = str(_object(payload.get("user"), "payload's user").get("id", ""))
        if kind == "block_actions":
            actions = payload.get("actions")
            if not isinstance(actions, list) or not actions:
                raise ValueError("Slack's block_actions payload has no actions")
            action = _object(actions[0], "action")
            action_id = str(action.get("action_id", ""))
            if not action_id.startswith(ACTION_PREFIX):
                return Parsed()
            container = payload.get("container") or {}
            channel = payload.get("channel") or {}
            message = payload.get("message") or {}
            selected = action.get("selected_option") or {}
            return Parsed(
                events=(
                    ButtonPressed(
                        user_id=user_id,
                        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
                        message_id=container.get("message_ts") or message.get("ts"),
                        action=action_id[len(ACTION_PREFIX) :].split(DUPLICATE_MARK, 1)[0],
                        value=str(action.get("value", "")),
                        trigger=payload.get("trigger_id"),
                        selected=selected.get("value"),
                    ),
                )
            )
        if kind == "view_submission":
            view = _object(payload.get("view"), "view")
            state = _object(view.get("state"), "view's state")
            return Parsed(
                events=(
                    FormSubmitted(
                        user_id=user_id,
                        callback=str(view.get("callback_id", "")),
                        values=_values(_object(state.get("values"), "view's values")),
                        state=str(view.get("private_metadata", "")),
                    ),
                )
            )
        return Parsed()

    def _event(self, body: dict[str, Any]) -> Parsed:
        kind = body.get("type")
        if kind == "url_verification":
            challenge = body.get("challenge")
            if not isinstance(challenge, str):
                raise ValueError("Slack's url_verification has no challenge")
            return Parsed(answer={"challenge": challenge})
        if kind != "event_callback":
            return Parsed()
        event = _object(body.get("event"), "event")
        found = self._event_of(event)
        return Parsed(events=(found,)) if found is not None else Parsed()

    def _event_of(self, event: dict[str, Any]) -> Inbound | None:
        kind = event.get("type")
        mine = self.bot_user_id is not None
        if kind in ("reaction_added", "reaction_removed"):
            item = _object(event.get("item"), "reaction's item")
            if item.get("type") != "message" or (mine and event.get("user") == self.bot_user_id):
                return None
            return Reaction(
                user_id=str(event.get("user", "")),
                channel_id=str(item.get("channel", "")),
                message_id=str(item.get("ts", "")),
                emoji=emoji(str(event.get("reaction", ""))),
                added=kind == "reaction_added",
            )
        if kind != "message":
            return None
        channel_id = str(event.get("channel", ""))
        if event.get("subtype") == "message_changed":
            message = _object(event.get("message"), "edited message")
            previous = event.get("previous_message") or {}
            # Slack also reports unfurls and thread replies as changes: only new text counts.
            if mine and message.get("user") == self.bot_user_id:
                return None
            if previous.get("text") == message.get("text"):
                return None
            return MessageEdited(
                channel_id=channel_id,
                message_id=str(message.get("ts", "")),
                text=str(message.get("text", "")),
                user_id=message.get("user"),
            )
        if event.get("subtype") == "message_deleted":
            return MessageDeleted(channel_id=channel_id, message_id=str(event["deleted_ts"]))
        return None

    def answer(self, route: str, event: Inbound | None, reply: Reply | None) -> Answer | None:
        """Slack's HTTP answer carrying `reply`; None for buttons (Slack ignores the body)
        and for a modal's confirmation (the answer to a submission only closes the modal or
        shows errors), so that it is posted."""
        if route == "commands":
            if reply is None:
                return Answer()
            body: dict[str, Any] = {
                "response_type": "ephemeral" if reply.private else "in_channel",
                "text": reply.text or (fallback_text(reply.message) if reply.message else ""),
            }
            if reply.message:
                body["blocks"] = message_blocks(reply.message)
            return Answer(body=body)
        if isinstance(event, ButtonPressed):
            return None
        if isinstance(event, FormSubmitted) and reply is not None and reply.errors:
            return Answer(body={"response_action": "errors", "errors": dict(reply.errors)})
        if isinstance(event, FormSubmitted) and reply is not None and (reply.text or reply.message):
            return None
        return Answer()


def _values(values: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """A modal's submitted values by field name (its input block's block_id)."""
    result: dict[str, str | list[str]] = {}
    for block_id, actions in values.items():
        if not isinstance(actions, dict) or not actions:
            raise ValueError(f"Slack's value of {block_id!r} is not an object")
        action = next(iter(actions.values()))
        if "selected_options" in action:
            result[block_id] = [str(o["value"]) for o in action["selected_options"] or []]
        elif "selected_option" in action:
            chosen = action["selected_option"]
            result[block_id] = str(chosen["value"]) if chosen else ""
        else:
            result[block_id] = str(action.get("value") or "")
    return result
