"""Matrix: Tocsin as an application service of a homeserver.

The homeserver pushes the events of the bot's rooms to Tocsin (appservice transactions,
`MatrixReceiver`), so stateless web processes hear chat without a sync loop; Tocsin acts as
its bot user through the Client-Server API v3 with the `as_token` (`MatrixClient`). A
connection's `base_url` is the homeserver's client URL, `team` its server name and
`bot_user_id` the bot's full id; its secrets are `as_token` and `hs_token`.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tocsin.chat.matrix_render import COMMAND_WORD, render
from tocsin.chat.ports import (
    Answer,
    Channel,
    ChatError,
    ChatMessage,
    ChatRefused,
    ChatUser,
    Command,
    Connection,
    Form,
    Inbound,
    Invited,
    Message,
    MessageDeleted,
    MessageEdited,
    Parsed,
    Reaction,
    Reply,
)
from tocsin.outbound import OutboundGuard, OutboundRefused

API = "/_matrix/client/v3"
ARCHIVED = "[archived] "
ARCHIVED_TOPIC = "Archived by Tocsin: the history is kept; the room is read-only."
# Synapse lets an appservice create only aliases in its own namespace, and pushes it the
# events of every room whose alias the namespace matches: the bot's aliases get a prefix
# of their own, so that its namespace covers its rooms and nobody else's.
ALIAS_PREFIX = "tocsin-"
ALIAS_TRIES = 20  # "-2" … "-20" after the alias itself; a name that busy is a bug elsewhere
DETAIL_MAX = 300


def registration(
    *,
    id: str,
    url: str,
    as_token: str,
    hs_token: str,
    sender_localpart: str,
    server_name: str,
) -> dict[str, Any]:
    """The appservice registration an operator gives the homeserver (as YAML): the bot
    user and the aliases it makes (`#tocsin-…`), exclusively, and not rate limited. `url`
    is where Tocsin serves the connection (the homeserver appends
    `/_matrix/app/v1/transactions/{txnId}`)."""
    bot = f"@{sender_localpart}:{server_name}"
    aliases = re.escape(f"#{ALIAS_PREFIX}")
    return {
        "id": id,
        "url": url,
        "as_token": as_token,
        "hs_token": hs_token,
        "sender_localpart": sender_localpart,
        "rate_limited": False,
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"^{re.escape(bot)}$"}],
            "aliases": [{"exclusive": True, "regex": f"^{aliases}.*:{re.escape(server_name)}$"}],
            "rooms": [],
        },
    }


def _secret(connection: Connection, name: str) -> str:
    value = connection.secrets.get(name)
    if not value:
        raise ChatError(f"the Matrix connection has no {name}", code="missing_secret")
    return value


def _q(part: str) -> str:
    """A room id, event id or user id as one path segment (they hold "!", "$", "@", ":")."""
    return quote(part, safe="")


def _alias_localpart(name: str) -> str:
    """A room alias's local part from a channel name: the bot's prefix, then the name in
    lower case with letters, digits and `._=-` kept and the rest a dash."""
    slug = re.sub(r"[^a-z0-9._=-]+", "-", name.lower()).strip("-")
    return ALIAS_PREFIX + (slug[:80] or "incident")


def _retry_after(response: httpx.Response, body: Mapping[str, Any]) -> float | None:
    header = response.headers.get("Retry-After", "").strip()
    if header.isdigit():
        return float(header)
    millis = body.get("retry_after_ms")
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return max(0.0, millis / 1000)
    return None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


_HINTS = {
    "M_UNKNOWN_TOKEN": "the homeserver does not know the as_token: check the appservice "
    "registration it was given",
    "M_MISSING_TOKEN": "the homeserver did not receive the as_token",
    "M_FORBIDDEN": "the bot is not allowed to do this in that room",
    "M_NOT_FOUND": "the homeserver does not know it",
}


class MatrixClient:
    """The bot's side of the Client-Server API v3, every request guarded and never
    redirected. Messages are sent with a random transaction id per call: a job retried
    after a send that reached the homeserver but whose answer was lost posts twice."""

    def __init__(self, connection: Connection, *, guard: OutboundGuard, timeout: float) -> None:
        self.base_url = connection.base_url.rstrip("/")
        self.bot_user_id = connection.bot_user_id or ""
        if not self.bot_user_id.startswith("@") or ":" not in self.bot_user_id:
            raise ChatError("the Matrix connection has no bot user id", code="missing_bot")
        self.server_name = connection.team or self.bot_user_id.split(":", 1)[1]
        self.token = _secret(connection, "as_token")
        self.guard = guard
        self.timeout = timeout

    # --- HTTP -----------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        url = self.base_url + API + path
        host = urlsplit(url)
        try:
            self.guard.check_host(host.hostname or "", host.port)
        except OutboundRefused as exc:
            raise ChatError(
                f"Matrix homeserver at {host.hostname}: {exc.reason}", code="outbound_refused"
            ) from exc
        try:
            return httpx.request(
                method,
                url,
                json=body,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise ChatError(
                f"the Matrix homeserver did not answer within {self.timeout:g} s", retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise ChatError(
                f"could not reach the Matrix homeserver at {host.hostname}: {exc}", retryable=True
            ) from exc

    def _call(self, method: str, path: str, what: str, body: Any = None) -> dict[str, Any]:
        """The JSON object of a 2xx answer; ChatError saying what went wrong otherwise."""
        response = self._send(method, path, body)
        status = response.status_code
        data = _error_body(response)
        if 200 <= status < 300:
            return data
        code = data.get("errcode") if isinstance(data.get("errcode"), str) else None
        said = str(data.get("error") or "")[:DETAIL_MAX]
        if status == 429 or code == "M_LIMIT_EXCEEDED":
            wait = _retry_after(response, data)
            raise ChatError(
                f"the Matrix homeserver is rate limiting Tocsin (while trying to {what})"
                + (f"; it asked to wait {wait:g} s" if wait is not None else ""),
                retryable=True,
                retry_after=wait,
                status=status,
                code=code or "M_LIMIT_EXCEEDED",
            )
        if status >= 500:
            raise ChatError(
                f"the Matrix homeserver failed to {what} (HTTP {status})"
                + (f": {said}" if said else ""),
                retryable=True,
                status=status,
                code=code,
            )
        if 300 <= status < 400:
            raise ChatError(
                f"the Matrix homeserver answered {what} with a redirect (HTTP {status}), "
                "which Tocsin does not follow: check the homeserver URL",
                status=status,
            )
        hint = _HINTS.get(code or "")
        detail = "; ".join(part for part in (said, hint) if part)
        raise ChatError(
            f"Matrix refused to {what}: {code or f'HTTP {status}'}"
            + (f" ({detail})" if detail else ""),
            status=status,
            code=code,
        )

    def _state(self, room_id: str, event_type: str, what: str, key: str = "") -> dict[str, Any]:
        """A state event's content; {} when the room has none."""
        try:
            return self._call("GET", f"/rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(key)}", what)
        except ChatError as exc:
            if exc.code == "M_NOT_FOUND":
                return {}
            raise

    def _put_state(
        self, room_id: str, event_type: str, content: Mapping[str, Any], what: str
    ) -> None:
        self._call("PUT", f"/rooms/{_q(room_id)}/state/{_q(event_type)}/", what, dict(content))

    def _send_event(self, room_id: str, content: Mapping[str, Any], what: str) -> str:
        txn = secrets.token_hex(16)
        path = f"/rooms/{_q(room_id)}/send/m.room.message/{txn}"
        answer = self._call("PUT", path, what, dict(content))
        event_id = answer.get("event_id")
        if not isinstance(event_id, str):
            raise ChatError(f"the Matrix homeserver answered {what} without an event id")
        return event_id

    # --- ChatClient -----------------------------------------------------------------------

    def create_channel(self, name: str, *, private: bool, topic: str) -> Channel:
        """A room with this name and topic and an alias `#tocsin-<name>:<server>` (suffixed "-2",
        "-3", … when taken), never published in the room directory."""
        base = _alias_localpart(name)
        for attempt in range(1, ALIAS_TRIES + 1):
            alias = base if attempt == 1 else f"{base}-{attempt}"
            body = {
                "name": name,
                "topic": topic,
                "preset": "private_chat" if private else "public_chat",
                "visibility": "private",
                "room_alias_name": alias,
            }
            try:
                answer = self._call("POST", "/createRoom", f"create the room {name!r}", body)
            except ChatError as exc:
                if exc.code == "M_ROOM_IN_USE":
                    continue
                raise
            room_id = answer.get("room_id")
            if not isinstance(room_id, str):
                raise ChatError("the Matrix homeserver created a room without saying its id")
            full = f"#{alias}:{self.server_name}"
            return Channel(id=room_id, name=name, url=f"https://matrix.to/#/{_q(full)}")
        raise ChatError(f"every alias for {name!r} is taken", code="M_ROOM_IN_USE")

    def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Invite each person; one already invited or joined is not an error."""
        for user_id in user_ids:
            what = f"invite {user_id} to {channel_id}"
            try:
                self._call("POST", f"/rooms/{_q(channel_id)}/invite", what, {"user_id": user_id})
            except ChatError as exc:
                if exc.code != "M_FORBIDDEN":
                    raise
                # Synapse refuses to invite someone already in the room: that is fine here.
                member = self._state(channel_id, "m.room.member", what, key=user_id)
                if member.get("membership") not in ("join", "invite"):
                    raise

    def post(self, channel_id: str, message: Message) -> str:
        """Post a message (plain body and HTML); its event id."""
        return self._send_event(channel_id, _content(message), f"post in {channel_id}")

    def update(self, channel_id: str, message_id: str, message: Message) -> None:
        """Replace a message with an edit event (clients show the new content in place)."""
        new = _content(message)
        content = {
            "msgtype": new["msgtype"],
            "body": f"* {new['body']}",
            "format": new["format"],
            "formatted_body": f"* {new['formatted_body']}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": message_id},
        }
        self._send_event(channel_id, content, f"edit {message_id} in {channel_id}")

    def pin(self, channel_id: str, message_id: str) -> None:
        """Add the event to the room's pinned events, once."""
        what = f"pin {message_id} in {channel_id}"
        pinned = self._state(channel_id, "m.room.pinned_events", what).get("pinned")
        current = [p for p in pinned if isinstance(p, str)] if isinstance(pinned, list) else []
        if message_id in current:
            return
        self._put_state(
            channel_id, "m.room.pinned_events", {"pinned": [*current, message_id]}, what
        )

    def archive(self, channel_id: str) -> None:
        """Matrix has no archive: rename the room "[archived] …", say so in the topic and a
        notice, and let nobody but the bot (which keeps the power) post; history stays."""
        what = f"archive {channel_id}"
        name = str(self._state(channel_id, "m.room.name", what).get("name") or "")
        levels = self._state(channel_id, "m.room.power_levels", what)
        users = _obj(levels.get("users"))
        bot_level = _num(users.get(self.bot_user_id))
        others = [_num(v) for k, v in users.items() if k != self.bot_user_id]
        levels_below = [_num(levels.get("users_default", 0)) or 0, *(v for v in others if v)]
        highest = int(max(levels_below))
        # Above every other member; capped at the bot's own level, which the homeserver
        # requires (a room creator of room version 12 is above any level and not listed).
        read_only = highest + 1 if bot_level is None else min(highest + 1, int(bot_level))
        if name.startswith(ARCHIVED) and levels.get("events_default") == read_only:
            return
        if not name.startswith(ARCHIVED):
            self._put_state(channel_id, "m.room.name", {"name": ARCHIVED + name}, what)
        self._put_state(channel_id, "m.room.topic", {"topic": ARCHIVED_TOPIC}, what)
        notice = {"msgtype": "m.notice", "body": ARCHIVED_TOPIC}
        self._send_event(channel_id, notice, what)
        self._put_state(
            channel_id, "m.room.power_levels", {**levels, "events_default": read_only}, what
        )

    def direct(self, user_id: str) -> str:
        """The bot's direct room with the person: the one its m.direct account data names
        while both are still in it, else a new one, remembered there."""
        what = f"open a direct room with {user_id}"
        path = f"/user/{_q(self.bot_user_id)}/account_data/m.direct"
        try:
            rooms = self._call("GET", path, what)
        except ChatError as exc:
            if exc.code != "M_NOT_FOUND":
                raise
            rooms = {}
        known = rooms.get(user_id)
        known_ids = [r for r in known if isinstance(r, str)] if isinstance(known, list) else []
        for room_id in known_ids:
            try:
                mine = self._state(room_id, "m.room.member", what, key=self.bot_user_id)
                theirs = self._state(room_id, "m.room.member", what, key=user_id)
            except ChatError as exc:
                if exc.code == "M_FORBIDDEN":  # the bot left that room
                    continue
                raise
            if mine.get("membership") == "join" and theirs.get("membership") in (
                "join",
                "invite",
            ):
                return room_id
        body = {"is_direct": True, "invite": [user_id], "preset": "trusted_private_chat"}
        created = self._call("POST", "/createRoom", what, body)
        new_id = created.get("room_id")
        if not isinstance(new_id, str):
            raise ChatError("the Matrix homeserver created a room without saying its id")
        self._call("PUT", path, what, {**rooms, user_id: [new_id, *known_ids]})
        return new_id

    def open_form(self, trigger: str, form: Form) -> None:
        """Matrix has no forms: always ChatError (the core asks field by field instead)."""
        raise ChatError("Matrix has no forms", code="no_forms")

    def fetch_message(self, channel_id: str, message_id: str) -> ChatMessage:
        """The event as it is now: the latest edit's text when the homeserver bundles it."""
        event = self._call(
            "GET",
            f"/rooms/{_q(channel_id)}/event/{_q(message_id)}",
            f"read {message_id} in {channel_id}",
        )
        text = _obj(event.get("content")).get("body")
        # The homeserver bundles a message's latest edit with it (m.relations, m.replace).
        edit = _obj(_obj(_obj(event.get("unsigned")).get("m.relations")).get("m.replace"))
        new = _obj(_obj(edit.get("content")).get("m.new_content")).get("body")
        if isinstance(new, str):
            text = new
        at = _num(event.get("origin_server_ts"))
        return ChatMessage(
            id=message_id,
            channel_id=channel_id,
            user_id=str(event.get("sender") or ""),
            text=text if isinstance(text, str) else "",
            at=at / 1000 if at is not None else 0.0,
        )

    def user(self, user_id: str) -> ChatUser:
        """The person's display name; never an email (Matrix tells bots none)."""
        profile = self._call("GET", f"/profile/{_q(user_id)}", f"read the profile of {user_id}")
        name = profile.get("displayname")
        return ChatUser(id=user_id, name=name if isinstance(name, str) and name else user_id)

    def find_user_by_email(self, email: str) -> ChatUser | None:
        """Always None: only an identity server maps emails to Matrix ids."""
        return None

    def post_private(self, channel_id: str, user_id: str, message: Message) -> None:
        """Matrix has no ephemeral messages: post in the bot's direct room with them."""
        self.post(self.direct(user_id), message)

    def join(self, channel_id: str) -> None:
        """Join a room the bot was invited to (to hear commands there)."""
        self._call("POST", f"/join/{_q(channel_id)}", f"join {channel_id}", {})

    def poll(self, channel_id: str, since: float) -> list[Inbound]:
        """Nothing: the homeserver pushes every event."""
        return []


def _num(value: object) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _obj(value: object) -> dict[str, Any]:
    """A JSON object, or {} for anything else."""
    return value if isinstance(value, dict) else {}


def _content(message: Message) -> dict[str, Any]:
    body, formatted = render(message)
    return {
        "msgtype": "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
    }


# --- Inbound ------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a Matrix event without a {key}")
    return value


def _dict(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"a Matrix event whose {key} is not an object")
    return value


class MatrixReceiver:
    """The homeserver's appservice transactions (PUT …/transactions/{txnId}, served under
    the route "transactions"), verified by the hs_token in the Authorization header. The
    homeserver repeats a transaction it saw no answer to: acting once per transaction id
    is the core's job. The bot's own events are ignored."""

    routes: tuple[str, ...] = ("transactions",)

    def __init__(self, connection: Connection) -> None:
        self.hs_token = _secret(connection, "hs_token")
        self.bot_user_id = connection.bot_user_id

    def parse(self, route: str, headers: Mapping[str, str], body: bytes, *, now: float) -> Parsed:
        """The transaction's events Tocsin acts on (ChatRefused without the hs_token,
        ValueError for a malformed transaction)."""
        if route not in self.routes:
            raise ValueError(f"no Matrix route {route!r}")
        given = _header(headers, "authorization").encode()
        if not hmac.compare_digest(given, f"Bearer {self.hs_token}".encode()):
            raise ChatRefused("the request does not carry the connection's hs_token")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError("a Matrix transaction that is not JSON") from exc
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise ValueError("a Matrix transaction without a list of events")
        found = (self._event(e) for e in events)
        return Parsed(events=tuple(e for e in found if e is not None))

    def _event(self, event: object) -> Inbound | None:
        if not isinstance(event, dict):
            raise ValueError("a Matrix event that is not an object")
        kind = _text(event, "type")
        room = _text(event, "room_id")
        sender = _text(event, "sender")
        event_id = _text(event, "event_id")
        if sender == self.bot_user_id:
            return None
        content = _dict(event, "content")
        relates = content.get("m.relates_to")
        relates = relates if isinstance(relates, dict) else {}
        if kind == "m.room.message":
            if relates.get("rel_type") == "m.replace":
                new = _dict(content, "m.new_content")
                return MessageEdited(
                    channel_id=room,
                    message_id=_text(relates, "event_id"),
                    text=str(new.get("body") or ""),
                    user_id=sender,
                )
            text = content.get("body")
            if isinstance(text, str) and re.match(rf"{re.escape(COMMAND_WORD)}(\s|$)", text):
                return Command(
                    user_id=sender,
                    channel_id=room,
                    text=text[len(COMMAND_WORD) :].strip(),
                    message_id=event_id,
                )
            return None
        if kind == "m.reaction":
            if relates.get("rel_type") != "m.annotation":
                return None
            return Reaction(
                user_id=sender,
                channel_id=room,
                message_id=_text(relates, "event_id"),
                emoji=_text(relates, "key"),
                reaction_id=event_id,
            )
        if kind == "m.room.redaction":
            # Room versions up to 10 say what is redacted beside the content, 11 inside it.
            redacts = event.get("redacts") or content.get("redacts")
            if not isinstance(redacts, str) or not redacts:
                raise ValueError("a Matrix redaction without what it redacts")
            return MessageDeleted(channel_id=room, message_id=redacts)
        invited = event.get("state_key") == self.bot_user_id and (
            content.get("membership") == "invite"
        )
        if kind == "m.room.member" and invited:
            return Invited(channel_id=room, user_id=sender)
        return None

    def answer(self, route: str, event: Inbound | None, reply: Reply | None) -> Answer | None:
        """The transaction's answer (event None): 200 with {}. A reply to an event is never
        part of it (None): the core posts it in the room."""
        if event is None:
            return Answer(200, {})
        return None
