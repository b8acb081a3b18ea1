"""Tocsin served on loopback with one chat connection, for the end-to-end chat tests: the
server, running due jobs, and waiting for what a person would see."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import free_port, uvicorn_in_thread
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.chat import connections, people
from tocsin.chat.models import ChatChannel, ChatConnection
from tocsin.config import Settings
from tocsin.incidents.models import Incident

WAIT = 20.0


@dataclass
class Live:
    """A running Tocsin (its jobs run only when a test says) and its chat connection."""

    container: Container
    settings: Settings
    url: str
    connection_id: int

    def session(self) -> Session:
        return self.container.sessionmaker()

    def run_jobs(self) -> None:
        """Run the jobs that are due."""
        self.container.runner(name="test").run_until_idle()

    def diagnose(self) -> str:
        """What a failed wait reports besides the jobs (the fake's calls, say)."""
        return ""

    def wait_for(self, what: str, check: Callable[[], Any]) -> Any:
        """Run due jobs and retry `check` until it returns something true."""
        deadline = time.monotonic() + WAIT
        while True:
            self.run_jobs()
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                with self.session() as db:
                    jobs = db.execute(
                        text("SELECT kind, state, attempts, last_error FROM jobs ORDER BY id")
                    ).all()
                raise AssertionError(f"waited {WAIT:g} s for {what}; jobs: {jobs}{self.diagnose()}")
            time.sleep(0.1)

    def route(self, route: str) -> str:
        return f"{self.url}/chat/{self.connection_id}/{route}"

    def incident(self, incident_id: int) -> Incident:
        with self.session() as db:
            found = db.get(Incident, incident_id)
            assert found is not None
            db.expunge(found)
            return found

    def channel_row(self, incident_id: int) -> ChatChannel | None:
        with self.session() as db:
            return db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))

    def link(self, chat_user_id: str, user_id: int, name: str = "") -> None:
        """Link a chat user to a Tocsin user, as the one-time link does."""
        with self.session() as db:
            connection = db.get(ChatConnection, self.connection_id)
            user = db.get(User, user_id)
            assert connection is not None and user is not None
            people.link(db, connection, chat_user_id, user, via="link", name=name)
            db.commit()


@contextmanager
def serve(settings: Settings, connection: dict[str, Any], **overrides: Any) -> Iterator[Live]:
    """Tocsin on a free loopback port, allowed to reach loopback chat servers, retrying
    chat requests quickly, with `connection` created; stopped when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = settings.model_copy(
        update={
            "base_url": url,
            "outbound_allow_private": True,
            "chat_retry_base_seconds": 0.2,
            **overrides,
        }
    )
    container = build(live)
    try:
        with container.sessionmaker() as db:
            made = connections.create_connection(db, connection, settings=live)
            db.commit()
            connection_id = made.id
        application = create_app(live, container=container)
        config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
        with uvicorn_in_thread(config):
            yield Live(container, live, url, connection_id)
    finally:
        container.close()
