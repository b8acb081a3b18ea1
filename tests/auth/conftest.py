"""Helpers for the login tests: requests to a live server, many at once; audit records."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditRecord

# Generous for a request on loopback, yet shorter than SQLite's 30 s busy timeout: a request
# stuck behind a login holding the event loop and the database times out.
TIMEOUT = 15.0


def in_parallel(calls: list[Callable[[], httpx.Response]]) -> tuple[list[threading.Thread], list]:
    """Start every call in a thread of its own; the list fills with responses or errors."""
    results: list[httpx.Response | Exception] = []
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> None:
        start.wait()
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    return threads, results


def login_call(base: str, email: str, password: str) -> Callable[[], httpx.Response]:
    def call() -> httpx.Response:
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            return http.post(
                "/login",
                data={"email": email, "password": password},
                follow_redirects=False,
            )

    return call


def audit(session: Session, action: str) -> list[AuditRecord]:
    """The committed audit records of `action`, oldest first (after ending the session's read
    transaction, so that what the server committed since is seen)."""
    session.commit()
    rows = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == action, AuditRecord.seq.is_not(None))
        .order_by(AuditRecord.seq)
    )
    return list(rows.all())


def detail(row: AuditRecord) -> dict[str, Any]:
    return dict(json.loads(row.detail))
