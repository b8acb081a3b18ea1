"""Waking workers when a job is committed.

Two paths, both delivered only when the enqueuing transaction commits:

- In this process: `enqueue` marks the session; when it commits, every worker of this process
  running against the same database is woken (the embedded worker of `tocsin serve` starts a
  job its own request just queued at once, on SQLite and PostgreSQL alike).
- Across processes on PostgreSQL: `enqueue` issues `NOTIFY tocsin_jobs` in the transaction;
  PostgreSQL delivers it at commit (never for a rollback) to every worker that LISTENs
  (`Listener`, on its own psycopg connection). Other processes on SQLite poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

log = structlog.get_logger("tocsin.worker")

CHANNEL = "tocsin_jobs"
_PENDING = "tocsin.jobs.wake_pending"
_HOOKED = "tocsin.jobs.wake_hooked"
_NOTIFIED = "tocsin.jobs.notified_in"

_lock = threading.Lock()
# Database URL -> callbacks of this process's workers on it.
_subscribers: dict[str, list[Callable[[], None]]] = {}


def _database(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def subscribe(engine: Engine, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` whenever this process commits a job to this database; returns the
    function that unsubscribes."""
    name = _database(engine)
    with _lock:
        _subscribers.setdefault(name, []).append(callback)

    def unsubscribe() -> None:
        with _lock:
            callbacks = _subscribers.get(name, [])
            if callback in callbacks:
                callbacks.remove(callback)

    return unsubscribe


def _wake_local(engine: Engine) -> None:
    with _lock:
        callbacks = list(_subscribers.get(_database(engine), ()))
    for callback in callbacks:
        callback()


def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        bind = session.get_bind()
        _wake_local(bind if isinstance(bind, Engine) else bind.engine)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_NOTIFIED, None)


def job_written(session: Session) -> None:
    """Arrange for workers to wake when the caller's transaction commits."""
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
        session.info[_HOOKED] = True
    session.info[_PENDING] = True
    if session.get_bind().dialect.name != "postgresql":
        return
    # One NOTIFY per transaction is enough (PostgreSQL folds repeats anyway); inside a
    # savepoint always send, since rolling the savepoint back discards its notifications.
    current = session.get_nested_transaction() or session.get_transaction()
    if session.info.get(_NOTIFIED) is current and session.get_nested_transaction() is None:
        return
    session.execute(text(f"NOTIFY {CHANNEL}"))
    session.info[_NOTIFIED] = current


class Listener:
    """LISTEN tocsin_jobs on a dedicated psycopg connection and call `wake` on each
    notification. Reconnects after a failure; while it is down, the worker polls."""

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tocsin-job-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    # A job may have been committed while we were not listening.
                    self._wake()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake()
            except Exception as exc:  # database restarting: poll meanwhile, then reconnect
                self.connected.clear()
                log.warning("worker.listen_failed", error=str(exc))
                self._stop.wait(2.0)
        self.connected.clear()
