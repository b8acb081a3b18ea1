"""Rate limits on the public subscribe endpoints, counted in the database so that every web
process shares them.

Fixed one-hour windows per key ("ip:<client network>", "address:<sha256 of the email>"):
one `INSERT … ON CONFLICT DO UPDATE … RETURNING` per hit, atomic on SQLite and PostgreSQL.
The count is written in the caller's transaction; callers keep it even when they refuse the
request (a refused request still counts, so hammering does not help)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db import rows_affected, utcnow
from tocsin.errors import DomainError
from tocsin.subscribers.models import RateWindow
from tocsin.web.clients import client_network

WINDOW = timedelta(hours=1)


class RateLimited(DomainError):
    """Too many requests for one client or address; `retry_after` is in seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    key: str
    allowed: int
    what: str  # "from your network", "for this address": for the message


def client_key(host: str | None) -> str:
    """One bucket per IPv4 address and per IPv6 /64 (see web/clients.py)."""
    return f"ip:{client_network(host)}"


def address_key(address: str) -> str:
    return "address:" + hashlib.sha256(address.lower().encode()).hexdigest()


def _window_start(now: datetime) -> datetime:
    step = WINDOW.total_seconds()
    return datetime.fromtimestamp((now.timestamp() // step) * step, UTC)


def hit(session: Session, limit: Limit, *, now: datetime | None = None) -> int:
    """Count one request against `limit`; raise RateLimited past it. Returns the count."""
    now = now or utcnow()
    start = _window_start(now)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RateWindow).values(key=limit.key, window_start=start, count=1)
    same_window = RateWindow.window_start == statement.excluded.window_start
    upsert = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "count": case((same_window, RateWindow.count + 1), else_=1),
            "window_start": statement.excluded.window_start,
        },
    ).returning(RateWindow.count)
    count = int(session.execute(upsert).scalar_one())
    if count > limit.allowed:
        retry_after = max(1, int((start + WINDOW - now).total_seconds()) + 1)
        minutes = max(1, round(retry_after / 60))
        raise RateLimited(
            f"Too many subscribe requests {limit.what} (at most {limit.allowed} an hour). "
            f"Please try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=retry_after,
        )
    return count


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete windows that ended (the housekeeping job)."""
    cutoff = _window_start(now or utcnow())
    result = session.execute(delete(RateWindow).where(RateWindow.window_start < cutoff))
    return rows_affected(result)
