"""Real parts for event webhook tests: an HTTP receiver on loopback whose answers a test
scripts, settings that allow loopback, and small builders."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.webhooks import service as webhooks
from tocsin.webhooks.models import WebhookSubscription


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on loopback: each POST gets the next scripted answer (status, headers),
    then `status` once the script is used up."""

    port: int
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    status: int = 200

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self) -> list[str]:
        return [r.json()["event"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, headers = state.script.pop(0) if state.script else (state.status, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback receivers allowed (as every receiver test does); retries at once."""
    return settings.model_copy(
        update={
            "outbound_allow_private": True,
            "notify_retry_base_seconds": 0.0,
            "base_url": "http://tocsin.test",
        }
    )


def subscribe(
    db: Session, config: Settings, url: str, *, by: User | None = None, **data: Any
) -> tuple[WebhookSubscription, str]:
    data.setdefault("name", "Receiver")
    data.setdefault("events", ["incident.declared", "incident.resolved"])
    created, secret = webhooks.create_subscription(db, {"url": url, **data}, settings=config, by=by)
    db.commit()
    return created, secret


def run_jobs(container: Container) -> int:
    return container.runner(name="test").run_until_idle()
