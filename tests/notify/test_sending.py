"""Sending happens outside any transaction: while a slow receiver takes its time, the
database is free (on SQLite: nobody waits for the write lock), and the page is on record as
being sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.notify.conftest import declare, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.notify import methods
from tocsin.notify.models import Notification
from tocsin.notify.service import page_user


@pytest.fixture
def slow_receiver(container: Container) -> Iterator[dict[str, Any]]:
    """A webhook receiver that, while answering, looks at the database and writes to it."""
    seen: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with container.sessionmaker() as session:
                seen["states"] = [n.state for n in session.query(Notification).all()]
            try:
                with container.sessionmaker.begin() as session:  # a write, now
                    catalog.create_team(session, name="Written while sending")
                seen["wrote"] = True
            except Exception as exc:  # a held write lock: "database is locked" after waiting
                seen["wrote"] = repr(exc)
            time.sleep(0.3)  # and take a while to answer
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield seen
    server.shutdown()
    server.server_close()


def test_a_slow_receiver_holds_no_transaction_open(
    db: Session,
    container: Container,
    settings: Settings,
    responder: User,
    slow_receiver: dict[str, Any],
) -> None:
    methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook",
        target=slow_receiver["url"], label="Slow hook",
    )  # fmt: skip
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    run_jobs(container)
    # While the request was open the page was already on record as being sent (committed
    # before sending), and another writer got through (on SQLite a transaction held open
    # across the send would have kept the write lock until the busy timeout gave up).
    assert slow_receiver["states"] == ["sending"]
    assert slow_receiver["wrote"] is True
    db.expire_all()
    (notification,) = db.query(Notification).all()
    assert notification.state == "sent" and notification.attempts == 1
