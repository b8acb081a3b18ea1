"""A real HTTP server on loopback answering as Slack's Web API does, for the methods Tocsin
calls (slack_contract.py), and signed requests as Slack sends them to Tocsin.

Every request is checked against the contract (POST, `Authorization: Bearer xoxb-…`, the
content type slack_sdk sends for the method, required, known and well-typed arguments,
Block Kit and modal limits); anything off is recorded in `violations`, which tests assert
empty. The server keeps channels, members, messages, pins and people so tests assert on
Slack's state, and scripts failures (`fail`) before the next requests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx

from tests.chat import slack_contract as contract
from tocsin.chat.slack_receive import sign

BOT_TOKEN = "xoxb-1111-2222-abcdefghijklmnop"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0TOCSIN"
BOT_USER = "U0BOT"


@dataclass
class SlackChannel:
    id: str
    name: str
    private: bool
    creator: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    archived: bool = False
    is_im: bool = False
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    pins: set[str] = field(default_factory=set)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fake:
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    channels: dict[str, SlackChannel] = field(default_factory=dict)
    # People by id: {"name", "real_name", "email", "is_bot"}
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: list[dict[str, Any]] = field(default_factory=list)
    # Scripted answers for the next calls: (method or None, status, headers, body).
    failures: list[tuple[str | None, int, dict[str, str], Any]] = field(default_factory=list)
    delay: float = 0.0
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def fail(
        self, status: int = 200, error: str | None = None, *, method: str | None = None,
        times: int = 1, body: Any = None, **headers: str,
    ) -> None:  # fmt: skip
        """Answer the next `times` calls (of `method`, if given) with `status` and an
        `ok: false` body carrying `error` (or `body` as is); status 0 closes the connection
        without answering."""
        if body is None and error is not None:
            body = {"ok": False, "error": error}
        with self.lock:
            self.failures.extend([(method, status, headers, body)] * times)

    def add_user(self, user_id: str, name: str, email: str | None = None) -> None:
        self.users[user_id] = {"name": name, "real_name": name.title(), "email": email}

    def add_channel(self, name: str, *, members: tuple[str, ...] = ()) -> SlackChannel:
        channel = SlackChannel(f"C{next(self.ids):06d}", name, False, "U0SOMEONE")
        channel.members.update(members)
        self.channels[channel.id] = channel
        return channel

    def named(self, name: str) -> SlackChannel:
        return next(c for c in self.channels.values() if c.name == name)

    def _scripted(self, method: str) -> tuple[int, dict[str, str], Any] | None:
        for index, (only, status, headers, body) in enumerate(self.failures):
            if only in (None, method):
                del self.failures[index]
                return status, headers, body
        return None

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self.clock):06d}"

    def _conversation(self, channel: SlackChannel) -> dict[str, Any]:
        topic = {"value": channel.topic, "creator": channel.creator, "last_set": 0}
        return {
            "id": channel.id, "name": channel.name, "name_normalized": channel.name,
            "created": 1_700_000_000, "creator": channel.creator,
            "is_archived": channel.archived, "is_channel": not channel.private,
            "is_general": False, "is_mpim": False, "is_group": channel.private,
            "is_org_shared": False, "is_im": channel.is_im, "is_shared": False,
            "is_private": channel.private, "topic": topic,
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }  # fmt: skip

    def _user(self, user_id: str) -> dict[str, Any]:
        person = self.users[user_id]
        profile: dict[str, Any] = {
            "real_name": person["real_name"], "display_name": person["name"],
            "avatar_hash": "", "real_name_normalized": person["real_name"],
            "display_name_normalized": person["name"], "title": "", "phone": "", "skype": "",
            "status_text": "", "status_emoji": "", "fields": {},
        }  # fmt: skip
        if person["email"]:
            profile["email"] = person["email"]
        return {
            "id": user_id,
            "name": person["name"],
            "profile": profile,
            "is_bot": user_id == BOT_USER,
            "updated": 1_700_000_000,
            "is_app_user": False,
        }

    # --- the methods, each answering (body) for valid arguments ----------------------

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "m_" + method.replace(".", "_"))
        result: dict[str, Any] = handler(args)
        return result

    def _channel(self, channel_id: str) -> SlackChannel | dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return channel

    def m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args["name"]
        if len(name) > contract.CHANNEL_NAME_MAX:
            return {"ok": False, "error": "invalid_name_maxlength"}
        if name != name.lower() or any(c in name for c in " .,") or not name:
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        private = args.get("is_private") in ("1", "true")
        channel = SlackChannel(f"C{next(self.ids):06d}", name, private, BOT_USER)
        channel.members.add(BOT_USER)
        self.channels[channel.id] = channel
        return {"ok": True, "channel": self._conversation(channel)}

    def m_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        if len(args["topic"]) > contract.TOPIC_MAX:
            return {"ok": False, "error": "too_long"}
        channel.topic = args["topic"]
        return {"ok": True, "channel": self._conversation(channel)}

    def m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        users = [u for u in args["users"].split(",") if u]
        if len(users) > contract.INVITE_MAX:
            self.violations.append(f"conversations.invite: {len(users)} users in one call")
            return {"ok": False, "error": "too_many_users"}
        if BOT_USER not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        if BOT_USER in users:
            return {"ok": False, "error": "cant_invite_self"}
        unknown = [u for u in users if u not in self.users]
        if unknown:
            return {"ok": False, "error": "user_not_found"}
        already = [u for u in users if u in channel.members]
        if already:
            # Without force, Slack refuses the whole call and lists who was in already.
            errors = [{"user": u, "ok": False, "error": "already_in_channel"} for u in already]
            return {"ok": False, "error": "already_in_channel", "errors": errors}
        channel.members.update(users)
        return {"ok": True, "channel": self._conversation(channel)}

    def _post(self, args: dict[str, Any]) -> SlackChannel | dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        if BOT_USER not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if len(args.get("text", "")) > contract.TEXT_MAX:
            return {"ok": False, "error": "msg_too_long"}
        problems = contract.check_blocks(args.get("blocks", []))
        if problems:
            self.violations.extend(problems)
            return {"ok": False, "error": "invalid_blocks"}
        return channel

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post(args)
        if isinstance(channel, dict):
            return channel
        ts = self._ts()
        message = {"type": "message", "ts": ts, "user": BOT_USER, "text": args.get("text", ""),
                   "blocks": args.get("blocks", [])}  # fmt: skip
        channel.messages[ts] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post(args)
        if isinstance(channel, dict):
            return channel
        message = channel.messages.get(args["ts"])
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message["user"] != BOT_USER:
            return {"ok": False, "error": "cant_update_message"}
        message.update(text=args.get("text", ""), blocks=args.get("blocks", []))
        return {"ok": True, "channel": channel.id, "ts": args["ts"], "text": message["text"]}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post(args)
        if isinstance(channel, dict):
            return channel
        if args["user"] not in channel.members:
            return {"ok": False, "error": "user_not_in_channel"}
        channel.ephemeral.append(args)
        return {"ok": True, "message_ts": self._ts()}

    def m_pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        ts = args.get("timestamp")
        if not ts:
            return {"ok": False, "error": "no_item_specified"}
        if ts not in channel.messages:
            return {"ok": False, "error": "message_not_found"}
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.add(ts)
        return {"ok": True}

    def m_conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        if channel.archived:
            return {"ok": False, "error": "already_archived"}
        channel.archived = True
        return {"ok": True}

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in args.get("users", "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(u not in self.users for u in users):
            return {"ok": False, "error": "user_not_found"}
        for channel in self.channels.values():
            if channel.is_im and channel.members == {BOT_USER, users[0]}:
                return {"ok": True, "no_op": True, "already_open": True,
                        "channel": {"id": channel.id}}  # fmt: skip
        im = SlackChannel(f"D{next(self.ids):06d}", "", True, BOT_USER, is_im=True)
        im.members.update({BOT_USER, users[0]})
        self.channels[im.id] = im
        return {"ok": True, "channel": {"id": im.id}}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        problems = contract.check_view(view)
        if problems:
            self.violations.extend(problems)
            return {"ok": False, "error": "invalid_arguments"}
        if not args["trigger_id"].startswith("trigger-"):
            return {"ok": False, "error": "invalid_trigger_id"}
        self.views.append({"trigger_id": args["trigger_id"], **view})
        return {"ok": True, "view": {"id": f"V{next(self.ids):06d}", **view}}

    def m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if isinstance(channel, dict):
            return channel
        latest = float(args.get("latest", "inf"))
        oldest = float(args.get("oldest", "0"))
        inclusive = args.get("inclusive") in ("1", "true")
        found = [
            message for ts, message in sorted(channel.messages.items(), reverse=True)
            if (oldest <= float(ts) <= latest) and (
                inclusive or float(ts) not in (oldest, latest))
        ][: int(args.get("limit", "100"))]  # fmt: skip
        messages = [{k: v for k, v in m.items() if k != "blocks"} for m in found]
        return {"ok": True, "messages": messages, "has_more": False, "pin_count": len(channel.pins),
                "channel_actions_ts": None, "channel_actions_count": 0}  # fmt: skip

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["user"] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user(args["user"])}

    def m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        for user_id, person in self.users.items():
            if person["email"] and person["email"].lower() == args["email"].lower():
                return {"ok": True, "user": self._user(user_id)}
        return {"ok": False, "error": "users_not_found"}


class Handler(BaseHTTPRequestHandler):
    fake: Fake

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b"Internal Server Error"
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.fake.violations.append(f"GET {self.path}: slack_sdk calls every method with POST")
        self._send(405, {"ok": False, "error": "method_not_allowed"})

    def do_POST(self) -> None:
        fake = self.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = self.path.removeprefix("/api/")
        method = contract.METHODS.get(name)
        if method is None:
            fake.violations.append(f"{name}: not a method Tocsin's contract describes")
            self._send(404, {"ok": False, "error": "unknown_method"})
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        wanted = "application/json" if method.body == "json" else (
            "application/x-www-form-urlencoded")  # fmt: skip
        problems: list[str] = []
        if content_type != wanted:
            problems.append(f"{name}: content type {content_type!r}, expected {wanted}")
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer xoxb-"):
            problems.append(f"{name}: no bot token in Authorization (got {auth[:12]!r})")
        try:
            if content_type == "application/json":
                args: dict[str, Any] = json.loads(raw or b"{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        except ValueError:
            problems.append(f"{name}: a body that is neither JSON nor a form")
            args = {}
        problems.extend(contract.check_arguments(method, args))
        with fake.lock:
            fake.calls.append((name, args))
            fake.violations.extend(problems)
            if problems:
                self._send(200, {"ok": False, "error": "invalid_arguments"})
                return
            if fake.delay:
                time.sleep(fake.delay)
            scripted = fake._scripted(name)
            if scripted is not None:
                status, headers, body = scripted
                if status == 0:
                    self.close_connection = True
                    return
                self._send(status, body, headers)
                return
            if auth != f"Bearer {BOT_TOKEN}":
                self._send(200, {"ok": False, "error": "invalid_auth"})
                return
            body = fake.answer(name, args)
        if body.get("ok") is False and body["error"] not in method.errors:
            fake.violations.append(f"{name}: the fake answered {body['error']}, not in the spec")
        self._send(200, body)


def serve() -> tuple[Fake, ThreadingHTTPServer]:
    fake = Fake()
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


# --- Slack's requests to Tocsin ----------------------------------------------------------


def signed(
    body: bytes, *, now: float | None = None, secret: str = SIGNING_SECRET,
    content_type: str = "application/json",
) -> dict[str, str]:  # fmt: skip
    """The headers Slack sends with `body`, signed at `now`."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def slash_command(text: str, *, user: str = "U0ALICE", channel: str = "C0INCIDENT") -> bytes:
    """A slash command's form body, as Slack posts `/tocsin <text>`."""
    fields = {
        "token": "deprecated-verification-token", "team_id": TEAM, "team_domain": "acme",
        "channel_id": channel, "channel_name": "incident", "user_id": user,
        "user_name": "alice", "command": "/tocsin", "text": text,
        "api_app_id": "A0TOCSIN", "response_url": "https://hooks.slack.com/commands/T0/1/x",
        "trigger_id": "trigger-13345224609.738474920.8088930838d88f008e0",
    }  # fmt: skip
    return str(httpx.QueryParams(fields)).encode()


def interaction(payload: dict[str, Any]) -> bytes:
    """An interactivity request's form body: the payload as JSON in `payload`."""
    return str(httpx.QueryParams({"payload": json.dumps(payload)})).encode()


def event(inner: dict[str, Any]) -> bytes:
    """An Events API event_callback carrying `inner`."""
    wrapper = {
        "token": "deprecated", "team_id": TEAM, "api_app_id": "A0TOCSIN", "event": inner,
        "type": "event_callback", "event_id": "Ev0TOCSIN", "event_time": int(time.time()),
    }  # fmt: skip
    return json.dumps(wrapper).encode()


def send(url: str, body: bytes, *, content_type: str, now: float | None = None) -> httpx.Response:
    """POST a signed Slack request to Tocsin at `url`."""
    headers = signed(body, now=now, content_type=content_type)
    return httpx.post(url, content=body, headers=headers, timeout=30)
