"""A real HTTP server on loopback answering as a Mattermost server does, for the endpoints
Tocsin calls, checking every request against mattermost_contract (any breach is recorded in
`violations`, and the test fixture fails on one).

It keeps what a test asserts on: channels with their members and deleted_at, posts with
their props, edit_at, delete_at, pins and reactions, the dialogs opened. Tests act as people
would in Mattermost (`react`, `edit`, `delete`), script failures (`fail`), and call Tocsin as
Mattermost would: `click` a button of a stored post, `submit` an opened dialog, and
`send_command` a slash command.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx

from tests.chat import mattermost_contract as contract

BOT_TOKEN = "mm-bot-token-0123456789abcdef"
TEAM_ID = "teamidteamidteamidteamid01"
BOT_ID = "botbotbotbotbotbotbotbot01"


def new_id() -> str:
    """A Mattermost id: 26 lowercase letters and digits."""
    return secrets.token_hex(13)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fake:
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    dialogs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by trigger id
    failures: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    last_ms: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now(self) -> int:
        """Milliseconds, strictly increasing (two changes never share a time)."""
        with self.lock:
            self.last_ms = max(self.last_ms + 1, int(time.time() * 1000))
            return self.last_ms

    def fail(self, status: int, body: Any = None, times: int = 1, **headers: str) -> None:
        """Answer the next `times` requests so."""
        self.failures.extend([(status, headers, body)] * times)

    def add_user(
        self, username: str, *, email: str = "", verified: bool = True, first: str = "",
        last: str = "",
    ) -> str:  # fmt: skip
        user_id = new_id()
        self.users[user_id] = {
            "id": user_id, "create_at": self.now(), "update_at": 0, "delete_at": 0,
            "username": username, "first_name": first, "last_name": last, "nickname": "",
            "email": email, "email_verified": verified, "auth_service": "",
            "roles": "system_user", "locale": "en",
        }  # fmt: skip
        return user_id

    def add_channel(self, name: str, *, kind: str = "O") -> str:
        channel_id = new_id()
        self.channels[channel_id] = channel(channel_id, name, name, kind, self.now())
        return channel_id

    def add_post(self, channel_id: str, user_id: str, message: str) -> str:
        post_id = new_id()
        self.posts[post_id] = post(post_id, channel_id, user_id, message, {}, self.now())
        return post_id

    def react(self, post_id: str, user_id: str, emoji_name: str) -> None:
        at = self.now()
        target = self.posts[post_id]
        target["metadata"].setdefault("reactions", []).append(
            {"user_id": user_id, "post_id": post_id, "emoji_name": emoji_name, "create_at": at}
        )
        target["has_reactions"] = True
        target["update_at"] = at

    def edit(self, post_id: str, message: str) -> None:
        at = self.now()
        self.posts[post_id].update(message=message, edit_at=at, update_at=at)

    def delete(self, post_id: str) -> None:
        at = self.now()
        self.posts[post_id].update(delete_at=at, update_at=at)

    # --- Calling Tocsin as Mattermost does ------------------------------------------------

    def click(
        self, post_id: str, action_id: str, user_id: str, *, choose: str | None = None
    ) -> httpx.Response:
        """Press a button of a stored post (or choose the option `choose` of its menu):
        Mattermost posts its integration's context, with `selected_option` for a menu."""
        stored = self.posts[post_id]
        for card in stored["props"].get("attachments", []):
            for action in card.get("actions", []):
                if action["id"] == action_id:
                    integration = action["integration"]
                    body = {
                        "user_id": user_id, "user_name": self.users[user_id]["username"],
                        "channel_id": stored["channel_id"], "channel_name": "",
                        "team_id": TEAM_ID, "team_domain": "acme", "post_id": post_id,
                        "trigger_id": new_id(), "type": "", "data_source": "",
                        "context": integration.get("context", {}),
                    }  # fmt: skip
                    if choose is not None:
                        values = [o["value"] for o in action.get("options", [])]
                        assert choose in values, f"{choose!r} is not an option: {values}"
                        body["context"] = {**body["context"], "selected_option": choose}
                    return httpx.post(integration["url"], json=body, timeout=30)
        raise KeyError(f"no action {action_id} on post {post_id}")

    def submit(
        self, trigger: str, user_id: str, channel_id: str, submission: dict[str, Any],
        *, cancelled: bool = False, state: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """Submit (or cancel) the dialog opened with `trigger`, as Mattermost does."""
        opened = self.dialogs[trigger]
        dialog = opened["dialog"]
        body = {
            "type": "dialog_submission", "callback_id": dialog.get("callback_id", ""),
            "state": dialog.get("state", "") if state is None else state,
            "user_id": user_id, "channel_id": channel_id, "team_id": TEAM_ID,
            "submission": {} if cancelled else submission, "cancelled": cancelled,
        }  # fmt: skip
        return httpx.post(opened["url"], json=body, timeout=30)


def send_command(
    url: str, token: str, text: str, *, user_id: str, channel_id: str,
    user_name: str = "alice", header: bool = True,
) -> httpx.Response:  # fmt: skip
    """A slash command as Mattermost sends it: form-encoded, its token in the body and in
    `Authorization: Token …`."""
    form = {
        "channel_id": channel_id, "channel_name": "town-square", "command": "/tocsin",
        "response_url": "http://127.0.0.1:9/hooks/commands/x", "team_domain": "acme",
        "team_id": TEAM_ID, "text": text, "token": token, "trigger_id": new_id(),
        "user_id": user_id, "user_name": user_name,
    }  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if header:
        headers["Authorization"] = f"Token {token}"
    return httpx.post(url, content=urlencode(form), headers=headers, timeout=30)


def channel(channel_id: str, name: str, display: str, kind: str, at: int) -> dict[str, Any]:
    return {
        "id": channel_id, "create_at": at, "update_at": at, "delete_at": 0,
        "team_id": TEAM_ID if kind in ("O", "P") else "", "type": kind,
        "display_name": display, "name": name, "header": "", "purpose": "",
        "last_post_at": 0, "total_msg_count": 0, "extra_update_at": 0,
        "creator_id": BOT_ID, "members": set(),
    }  # fmt: skip


def post(
    post_id: str, channel_id: str, user_id: str, message: str, props: dict[str, Any], at: int
) -> dict[str, Any]:
    return {
        "id": post_id, "create_at": at, "update_at": at, "delete_at": 0, "edit_at": 0,
        "user_id": user_id, "channel_id": channel_id, "root_id": "", "original_id": "",
        "message": message, "type": "", "props": props, "hashtag": "", "file_ids": [],
        "pending_post_id": "", "is_pinned": False, "has_reactions": False, "metadata": {},
    }  # fmt: skip


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "members"}


def app_error(status: int, error_id: str, message: str) -> dict[str, Any]:
    return {
        "id": error_id, "message": message, "detailed_error": "", "request_id": new_id(),
        "status_code": status,
    }  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    fake: Fake

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body: Any = None
        problems: list[str] = []
        if raw:
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                problems.append("a body that is not declared as application/json")
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                problems.append("a body that is not JSON")
        with fake.lock:
            fake.requests.append(Seen(method, path, query, dict(self.headers), body))
        if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            expired = "Invalid or expired session, please login again."
            self._send(401, app_error(401, "api.context.session_expired.app_error", expired))
            return
        found = contract.match(method, path)
        if found is None:
            fake.violations.append(f"{method} {path}: no such endpoint in the contract")
            self._send(404, app_error(404, "api.context.404.app_error", "Sorry, not found."))
            return
        endpoint, params = found
        problems += [f"query {q}: not a parameter" for q in query if q not in endpoint.query]
        if endpoint.body is None and raw:
            problems.append("a body where the endpoint takes none")
        elif endpoint.body is not None:
            problems += contract.check(endpoint.body, body, "body")
            if not problems:
                problems += extra_checks(endpoint.name, body)
        if problems:
            fake.violations.extend(f"{endpoint.name}: {p}" for p in problems)
            self._send(400, app_error(400, "api.context.invalid_body_param.app_error",
                                      "; ".join(problems)))  # fmt: skip
            return
        if fake.failures:
            status, headers, failure = fake.failures.pop(0)
            self._send(status, failure or app_error(status, "fake.scripted", "scripted"), headers)
            return
        status, answer = getattr(self, "op_" + endpoint.name)(params, body, query)
        self._send(status, answer)

    # --- Endpoints --------------------------------------------------------------------

    def op_CreateChannel(self, params: dict[str, str], body: Any, query: Any) -> Any:
        fake = self.fake
        if any(c["name"] == body["name"] and c["team_id"] == body["team_id"]
               for c in fake.channels.values()):  # fmt: skip
            taken = "A channel with that name already exists on the same team."
            return 400, app_error(400, "store.sql_channel.save_channel.exists.app_error", taken)
        made = channel(new_id(), body["name"], body["display_name"], body["type"], fake.now())
        made.update(header=body.get("header", ""), purpose=body.get("purpose", ""))
        made["members"].add(BOT_ID)
        fake.channels[made["id"]] = made
        return 201, public(made)

    def op_CreateDirectChannel(self, params: dict[str, str], body: Any, query: Any) -> Any:
        fake = self.fake
        if BOT_ID not in body:
            return 403, app_error(403, "api.context.permissions.app_error", "no permission")
        if any(u not in fake.users and u != BOT_ID for u in body):
            return 400, app_error(400, "api.channel.create_direct_channel.invalid_user.app_error",
                                  "Invalid user ID for direct channel creation.")  # fmt: skip
        name = "__".join(sorted(body))
        for existing in fake.channels.values():
            if existing["name"] == name:
                return 201, public(existing)
        made = channel(new_id(), name, "", "D", fake.now())
        made["members"].update(body)
        fake.channels[made["id"]] = made
        return 201, public(made)

    def _channel(self, channel_id: str) -> dict[str, Any] | None:
        return self.fake.channels.get(channel_id)

    def op_AddChannelMember(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self._channel(params["channel"])
        if found is None:
            return 404, app_error(
                404, "app.channel.get.existing.app_error", "Unable to find the existing channel."
            )
        if body.get("user_id") not in self.fake.users:
            return 400, app_error(
                400,
                "api.channel.add_user.to.channel.failed.app_error",
                "Failed to add user to channel.",
            )
        found["members"].add(body["user_id"])
        return 201, {"channel_id": found["id"], "user_id": body["user_id"], "roles": "channel_user"}

    def op_DeleteChannel(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self._channel(params["channel"])
        if found is None:
            return 404, app_error(
                404, "app.channel.get.existing.app_error", "Unable to find the existing channel."
            )
        if found["delete_at"]:
            return 400, app_error(
                400,
                "api.channel.delete_channel.deleted.app_error",
                "The channel has been archived or deleted.",
            )
        found["delete_at"] = self.fake.now()
        return 200, {"status": "OK"}

    def op_GetPostsForChannel(self, params: dict[str, str], body: Any, query: Any) -> Any:
        since = int(query.get("since", "0"))
        posts = [
            p for p in self.fake.posts.values()
            if p["channel_id"] == params["channel"] and max(p["update_at"], p["delete_at"]) > since
        ]  # fmt: skip
        posts.sort(key=lambda p: p["create_at"], reverse=True)
        return 200, {
            "order": [p["id"] for p in posts], "posts": {p["id"]: p for p in posts},
            "next_post_id": "", "prev_post_id": "", "has_next": False,
        }  # fmt: skip

    def _new_post(self, body: dict[str, Any]) -> tuple[int, Any]:
        found = self._channel(body["channel_id"])
        if found is None:
            return 403, app_error(
                403,
                "api.context.permissions.app_error",
                "You do not have the appropriate permissions.",
            )
        if found["delete_at"]:
            return 403, app_error(
                403,
                "api.post.create_post.can_not_post_to_deleted.error",
                "Can not post to deleted channel.",
            )
        problems = attachment_problems(body.get("props", {}))
        if problems:
            self.fake.violations.extend(problems)
            return 400, app_error(400, "model.post.is_valid.props.app_error", "; ".join(problems))
        made = post(
            new_id(), found["id"], BOT_ID, body["message"], body.get("props", {}), self.fake.now()
        )
        return 201, made

    def op_CreatePost(self, params: dict[str, str], body: Any, query: Any) -> Any:
        status, made = self._new_post(body)
        if status == 201:
            self.fake.posts[made["id"]] = made
        return status, made

    def op_CreatePostEphemeral(self, params: dict[str, str], body: Any, query: Any) -> Any:
        status, made = self._new_post(body["post"])
        if status == 201:
            self.fake.ephemeral.append({**made, "for_user_id": body["user_id"]})
        return status, made

    def _post(self, post_id: str) -> dict[str, Any] | None:
        found = self.fake.posts.get(post_id)
        return found if found is not None and not found["delete_at"] else None

    def op_GetPost(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self._post(params["post"])
        if found is None:
            return 404, app_error(404, "app.post.get.app_error", "Unable to get the post.")
        return 200, found

    def op_PatchPost(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self._post(params["post"])
        if found is None:
            return 404, app_error(404, "app.post.get.app_error", "Unable to get the post.")
        problems = attachment_problems(body.get("props", {}))
        if problems:
            self.fake.violations.extend(problems)
            return 400, app_error(400, "model.post.is_valid.props.app_error", "; ".join(problems))
        at = self.fake.now()
        found.update({k: v for k, v in body.items()}, edit_at=at, update_at=at)
        return 200, found

    def op_PinPost(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self._post(params["post"])
        if found is None:
            return 404, app_error(404, "app.post.get.app_error", "Unable to get the post.")
        found["is_pinned"] = True
        return 200, {"status": "OK"}

    def op_OpenInteractiveDialog(self, params: dict[str, str], body: Any, query: Any) -> Any:
        problems = dialog_problems(body["dialog"])
        if problems:
            self.fake.violations.extend(problems)
            return 400, app_error(
                400,
                "interactive_message.decode_trigger_id.base64_decode_failed",
                "; ".join(problems),
            )
        self.fake.dialogs[body["trigger_id"]] = body
        return 200, {"status": "OK"}

    def op_GetUser(self, params: dict[str, str], body: Any, query: Any) -> Any:
        found = self.fake.users.get(params["user"])
        if found is None:
            return 404, app_error(404, "app.user.missing_account.const", "Unable to find the user.")
        return 200, found

    def op_GetUserByEmail(self, params: dict[str, str], body: Any, query: Any) -> Any:
        email = unquote(params["email"])
        for found in self.fake.users.values():
            if found["email"] == email:
                return 200, found
        return 404, app_error(404, "app.user.missing_account.const", "Unable to find the user.")


def extra_checks(name: str, body: Any) -> list[str]:
    """The rules the schema states in words: channel handles and types, name lengths."""
    if name != "CreateChannel":
        return []
    problems = []
    if not contract.CHANNEL_NAME.fullmatch(body["name"]):
        problems.append(f"name {body['name']!r}: not a valid channel handle")
    if body["type"] not in contract.CHANNEL_TYPES:
        problems.append(f"type {body['type']!r}: not O or P")
    if not 0 < len(body["display_name"]) <= contract.DISPLAY_NAME_MAX:
        problems.append("display_name: empty or longer than 64")
    return problems


def attachment_problems(props: Any) -> list[str]:
    """How a post's attachments break Mattermost's attachment and action rules."""
    problems: list[str] = []
    cards = props.get("attachments", []) if isinstance(props, dict) else []
    for i, card in enumerate(cards):
        where = f"props.attachments[{i}]"
        problems += contract.check(contract.ATTACHMENT, card, where)
        for j, item in enumerate(card.get("fields", [])):
            problems += contract.check(contract.FIELD, item, f"{where}.fields[{j}]")
        for j, action in enumerate(card.get("actions", [])):
            at = f"{where}.actions[{j}]"
            problems += contract.check(contract.ACTION, action, at)
            if not contract.ACTION_ID.fullmatch(str(action.get("id", ""))):
                problems.append(f"{at}.id {action.get('id')!r}: letters and digits only")
            if action.get("style", "default") not in contract.ACTION_STYLES:
                problems.append(f"{at}.style {action.get('style')!r}: unknown")
            if action.get("type", "button") not in contract.ACTION_TYPES:
                problems.append(f"{at}.type {action.get('type')!r}: unknown")
            for k, option in enumerate(action.get("options") or []):
                problems += contract.check(contract.ACTION_OPTION, option, f"{at}.options[{k}]")
            if action.get("type") == "select" and not (
                action.get("options") or action.get("data_source")
            ):
                problems.append(f"{at}: a select needs options or a data_source")
    return problems


def dialog_problems(dialog: dict[str, Any]) -> list[str]:
    """How a dialog breaks Mattermost's dialog and element rules."""
    problems = []
    if len(dialog["title"]) > contract.DIALOG_TITLE_MAX:
        problems.append("dialog.title: longer than 24")
    for i, element in enumerate(dialog["elements"]):
        where = f"dialog.elements[{i}]"
        problems += contract.check(contract.ELEMENT, element, where)
        if element.get("type") not in contract.ELEMENT_TYPES:
            problems.append(f"{where}.type {element.get('type')!r}: unknown")
        for name, limit in contract.ELEMENT_LIMITS.items():
            if len(str(element.get(name, ""))) > limit:
                problems.append(f"{where}.{name}: longer than {limit}")
    return problems


def serve() -> tuple[Fake, ThreadingHTTPServer]:
    fake = Fake()
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.port = server.server_address[1]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return fake, server
