"""A real Synapse homeserver for the Matrix tests, on loopback with SQLite in a temp dir.

`start_synapse` runs one from `.venv-synapse` (`make synapse`) with Tocsin registered as an
appservice whose URL the caller gives (the session fixture `synapse` points it at `inbox`, a
tiny HTTP server standing in for Tocsin; a test can start its own with a Tocsin server's
URL). People are registered with the shared secret and act through `Person`; they are
rate limited on sending messages only (an appservice's own user never is), which is how the
tests provoke a 429.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import REQUIRE_SERVICES
from tocsin.chat.matrix import registration

ROOT = Path(__file__).resolve().parents[2]
SYNAPSE_PYTHON = ROOT / ".venv-synapse" / "bin" / "python"
SERVER_NAME = "tocsin.test"
BOT_LOCALPART = "tocsin"
START_TIMEOUT = 90.0
# Everything people do in the tests may be frequent, except sending messages: a dozen quick
# sends meet this limit (a test acts in a few rooms, with a few messages each).
MESSAGE_LIMIT = {"per_second": 2, "burst_count": 12}
GENEROUS = {"per_second": 1000, "burst_count": 10000}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Synapse:
    """A running homeserver and what the tests need to talk to it."""

    base_url: str
    server_name: str
    shared_secret: str
    as_token: str
    hs_token: str
    bot_user_id: str
    workdir: Path
    started_in: float  # seconds from launch to answering /_matrix/client/versions

    def register(self, localpart: str, *, admin: bool = False) -> Person:
        """A new user, registered with the shared secret (the admin registration API)."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce = httpx.get(url, timeout=30).raise_for_status().json()["nonce"]
        password = secrets.token_hex(12)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password, "admin" if admin else "notadmin"):
            if part != nonce:
                mac.update(b"\x00")
            mac.update(part.encode())
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        answer = httpx.post(url, json=body, timeout=30).raise_for_status().json()
        return Person(self.base_url, answer["user_id"], answer["access_token"])


@dataclass
class Person:
    """Someone acting through the Client-Server API with their own access token."""

    base_url: str
    user_id: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.base_url}/_matrix/client/v3{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.call(method, path, body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def join(self, room: str) -> None:
        self.ok("POST", f"/join/{quote(room, safe='')}", {})

    def send(self, room: str, event_type: str, content: Mapping[str, Any]) -> str:
        txn = secrets.token_hex(8)
        path = f"/rooms/{quote(room, safe='')}/send/{event_type}/{txn}"
        return str(self.ok("PUT", path, dict(content))["event_id"])

    def say(self, room: str, text: str) -> str:
        return self.send(room, "m.room.message", {"msgtype": "m.text", "body": text})

    def react(self, room: str, event_id: str, key: str) -> str:
        relates = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return self.send(room, "m.reaction", {"m.relates_to": relates})

    def edit(self, room: str, event_id: str, text: str) -> str:
        new = {"msgtype": "m.text", "body": text}
        content = {
            "msgtype": "m.text",
            "body": f"* {text}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return self.send(room, "m.room.message", content)

    def redact(self, room: str, event_id: str) -> str:
        txn = secrets.token_hex(8)
        path = f"/rooms/{quote(room, safe='')}/redact/{quote(event_id, safe='')}/{txn}"
        return str(self.ok("PUT", path, {})["event_id"])

    def messages(self, room: str) -> list[dict[str, Any]]:
        """The room's latest events, newest first."""
        path = f"/rooms/{quote(room, safe='')}/messages?dir=b&limit=100"
        chunk: list[dict[str, Any]] = self.ok("GET", path)["chunk"]
        return chunk

    def state(self, room: str, event_type: str, key: str = "") -> dict[str, Any]:
        path = f"/rooms/{quote(room, safe='')}/state/{event_type}/{quote(key, safe='')}"
        return self.ok("GET", path)


Respond = Callable[[str, Mapping[str, str], bytes], tuple[int, Mapping[str, Any]]]


@dataclass
class Inbox:
    """An HTTP server on 127.0.0.1 standing in for Tocsin: every PUT is recorded and
    answered by `respond` (200 {} until a test sets it)."""

    port: int
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    respond: Respond = field(default=lambda path, headers, body: (200, {}))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve_inbox(port: int) -> Iterator[Inbox]:
    """An `Inbox` serving on `port` until the block ends."""
    inbox = Inbox(port)

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            with inbox.lock:
                inbox.requests.append((self.path, headers, body))
            try:
                status, answer = inbox.respond(self.path, headers, body)
            except Exception as exc:  # a test's bug must show, not hang the homeserver
                status, answer = 500, {"error": repr(exc)}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # user and alias queries: Tocsin knows of none
            data = b'{"errcode": "M_NOT_FOUND"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()


def _write(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML, which Synapse reads


@contextmanager
def start_synapse(
    workdir: Path, *, appservice_url: str, as_token: str | None = None, hs_token: str | None = None
) -> Iterator[Synapse]:
    """Synapse on a free loopback port, its appservice pointing at `appservice_url` (with
    these tokens, or new ones); stopped when the block ends. Fails (never skips) when it
    cannot start."""
    if not SYNAPSE_PYTHON.exists():
        raise RuntimeError(f"{SYNAPSE_PYTHON} is missing: run `make synapse`")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tokens = {name: secrets.token_hex(16) for name in ("as", "hs", "shared")}
    tokens["as"] = as_token or tokens["as"]
    tokens["hs"] = hs_token or tokens["hs"]
    tocsin = registration(
        id="tocsin",
        url=appservice_url,
        as_token=tokens["as"],
        hs_token=tokens["hs"],
        sender_localpart=BOT_LOCALPART,
        server_name=SERVER_NAME,
    )
    _write(workdir / "tocsin.yaml", tocsin)
    config = {
        "server_name": SERVER_NAME,
        "pid_file": str(workdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}},
        "media_store_path": str(workdir / "media"),
        "signing_key_path": str(workdir / "signing.key"),
        "report_stats": False,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "registration_shared_secret": tokens["shared"],
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "app_service_config_files": [str(workdir / "tocsin.yaml")],
        "presence": {"enabled": False},
        "rc_message": MESSAGE_LIMIT,
        "rc_registration": GENEROUS,
        "rc_login": {"address": GENEROUS, "account": GENEROUS, "failed_attempts": GENEROUS},
        "rc_joins": {"local": GENEROUS, "remote": GENEROUS},
        "rc_joins_per_room": GENEROUS,
        "rc_invites": {"per_room": GENEROUS, "per_user": GENEROUS, "per_issuer": GENEROUS},
        "rc_room_creation": GENEROUS,
    }
    _write(workdir / "homeserver.yaml", config)
    log = (workdir / "synapse.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [
            str(SYNAPSE_PYTHON),
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(workdir / "homeserver.yaml"),
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SYNAPSE_CACHE_FACTOR": "0.5"},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with {process.returncode}:\n{_tail(workdir / 'synapse.log')}"
                )
            try:
                if httpx.get(f"{base_url}/_matrix/client/versions", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(
                    f"Synapse did not answer within {START_TIMEOUT:g} s:\n"
                    + _tail(workdir / "synapse.log")
                )
            time.sleep(0.2)
        yield Synapse(
            base_url=base_url,
            server_name=SERVER_NAME,
            shared_secret=tokens["shared"],
            as_token=tokens["as"],
            hs_token=tokens["hs"],
            bot_user_id=f"@{BOT_LOCALPART}:{SERVER_NAME}",
            workdir=workdir,
            started_in=time.monotonic() - started,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    """The stand-in for Tocsin that Synapse pushes transactions to."""
    with serve_inbox(free_port()) as box:
        yield box


@pytest.fixture(scope="session")
def synapse(inbox: Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """One homeserver for the session; skipped only when Synapse is not installed and
    TOCSIN_REQUIRE_SERVICES is not set (CI fails instead)."""
    if not SYNAPSE_PYTHON.exists() and not REQUIRE_SERVICES:
        pytest.skip("Synapse is not installed (make synapse)")
    with start_synapse(tmp_path_factory.mktemp("synapse"), appservice_url=inbox.url) as server:
        print(f"Synapse answered after {server.started_in:.1f} s")
        yield server
