"""From an accepted request to a durable event row: group commit.

Each ingestion endpoint validates a request, turns it into event rows (pipeline.event_row) and
awaits `writer.write(rows)`, which returns once the rows are committed: a 2xx therefore means
the event is on disk, and a failed commit answers 503. (`writer.submit(rows)` is the same
without the await: a future, for /v2/enqueue served from the HTTP protocol, see hotpath.py.)
Two writers keep that promise:

- ProcessEventWriter (SQLite, the default for a database file): the rows go to this process's
  event writer process (writer_process.py), which commits them outside the web process's GIL.
- EventWriter (PostgreSQL; SQLite when TOCSIN_INGEST_WRITER_PROCESS=false): a writer thread in
  this process.

Both gather the rows of every request that arrives while a commit is under way into the next
one, so under load each commit (and its fsync) carries many events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import operator
import select
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import structlog
from sqlalchemy import Engine

from tocsin.alerts.repeats import settle
from tocsin.alerts.writer_process import (
    COLUMNS,
    FAILED,
    HOLD,
    PENDING,
    WANT,
    command,
    encode_frame,
    insert_sql,
    socket_paths,
    sqlite_time,
    take_frames,
)
from tocsin.db import utcnow

log = structlog.get_logger("tocsin.ingest")

_row_values = operator.itemgetter(*COLUMNS)


class Overloaded(Exception):
    """Too many events are waiting to be written: the sender should retry later (429)."""


def _make_room(writer: EventWriter | ProcessEventWriter, count: int) -> None:
    """Refuse (429) what would not fit among the events waiting to be written."""
    if writer._stopped:
        raise Overloaded("Tocsin is shutting down")
    if writer.waiting + count > writer.max_waiting:
        raise Overloaded(f"{writer.waiting} events are waiting to be written")


class WriteTurn:
    """Who writes next within this process, on SQLite (a single writer).

    SQLite makes a writer that finds the database locked sleep and retry with growing pauses,
    so a processor committing batch after batch could starve the event writer for long
    stretches. Both take this lock instead, and the processor steps aside whenever the event
    writer is waiting: accepting events always goes first. On PostgreSQL it does nothing.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._priority_waiting = 0
        # With a writer process (writer_process.py): told when this process's threads want
        # their turn, so that it holds back.
        self.shared: ProcessEventWriter | None = None

    def _want(self, delta: int) -> None:
        shared = self.shared
        if shared is not None:
            shared.want(delta)

    @contextmanager
    def first(self) -> Iterator[None]:
        """The event writer's turn: ahead of the processor."""
        if not self.enabled:
            yield
            return
        self._priority_waiting += 1
        try:
            with self._lock:
                yield
        finally:
            self._priority_waiting -= 1

    @contextmanager
    def after(self) -> Iterator[None]:
        """The processor's turn: only once the event writer is not waiting."""
        if not self.enabled:
            yield
            return
        for _ in range(200):  # at most ~0.2 s of politeness, then take a turn anyway
            if not self._priority_waiting:
                break
            time.sleep(0.001)
        self._want(1)
        try:
            with self._lock:
                yield
        finally:
            self._want(-1)


class EventWriter:
    """Group commit for accepted events, from async code.

    Each request adds its rows to the batch being gathered and awaits a future; while one batch
    is being committed (in a single writer thread) the next one gathers, so under load each
    commit (and its fsync) carries the rows of every request that arrived meanwhile.

    The writer thread talks to the database through the DB-API (one executemany for the rows;
    on SQLite a connection of its own, on PostgreSQL one from the pool per batch): at
    thousands of events a second, per-row ORM or Core processing, and every extra hand-over
    of the GIL between this thread and the event loop, cost more than the disk. On SQLite,
    repeats of an open alert are settled in the same transaction (repeats.py), so the
    processor only sees the events that need it.
    """

    def __init__(
        self, engine: Engine, *, max_waiting: int = 50_000, turn: WriteTurn | None = None
    ) -> None:
        self._engine = engine
        self._turn = turn or WriteTurn(enabled=False)
        self.max_waiting = max_waiting
        self.on_commit: Callable[[], None] = lambda: None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tocsin-event-writer"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gathering: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        # The writer thread's own connection, and the engine it came from.
        self._conn: Any = None
        self._conn_engine: Engine | None = None
        self.waiting = 0

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once these rows are committed; raise what the commit raised."""
        await self.submit(rows)

    def submit(
        self, rows: list[dict[str, Any]], loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Future[None]:
        """Take these rows (or raise Overloaded); the future is done once they are committed,
        or holds what the commit raised. Called from the event loop (`loop`, if the caller
        has it at hand)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not rows:
            future.set_result(None)
            return future
        _make_room(self, len(rows))
        if loop is not self._loop:  # a new event loop (tests start several): start afresh
            self._loop, self._gathering, self._flusher = loop, [], None
        self._gathering.append((rows, future))
        self.waiting += len(rows)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._gathering:
                batch, self._gathering = self._gathering, []
                rows = [row for item, _ in batch for row in item]
                try:
                    pending = await loop.run_in_executor(self._executor, self._commit, rows)
                except Exception as exc:
                    log.error("ingest.write_failed", error=str(exc), events=len(rows))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                    if pending:
                        self.on_commit()
                finally:
                    self.waiting -= len(rows)
        finally:
            self._flusher = None

    def _connection(self) -> Any:
        """SQLite: the writer thread's own DB-API connection, kept checked out of the pool."""
        if self._conn is not None and self._conn_engine is not self._engine:
            self._drop_connection()
        if self._conn is None:
            conn = self._engine.raw_connection()
            # Every accepted event is on disk before its 2xx (the pool's other connections
            # may use NORMAL for work that can be redone).
            conn.cursor().execute("PRAGMA synchronous=FULL")
            self._conn, self._conn_engine = conn, self._engine
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn, self._conn_engine = self._conn, None, None
        if conn is not None:
            # It may be broken: never hand it back to the pool (and if even that fails,
            # it is unusable anyway).
            with contextlib.suppress(Exception):
                conn.invalidate()

    def _commit(self, rows: list[dict[str, Any]]) -> bool:
        """Write the rows in one transaction; returns whether any is left pending."""
        if not rows:
            return False
        if self._engine.dialect.name != "sqlite":
            return self._commit_postgres(rows)
        with self._turn.first():
            conn = self._connection()
            try:
                cursor = conn.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                pending = settle(cursor, rows, now=utcnow(), stamp=sqlite_time)
                cursor.executemany(insert_sql("?"), [_params(row, True) for row in rows])
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # the connection is dropped just below
                    conn.cursor().execute("ROLLBACK")
                self._drop_connection()
                raise
        return pending

    def _commit_postgres(self, rows: list[dict[str, Any]]) -> bool:
        """PostgreSQL: a connection from the pool for each batch (checked with a ping, so a
        server restart or an idle timeout costs nothing); the processor applies every row."""
        conn = self._engine.raw_connection()
        try:
            conn.cursor().executemany(insert_sql("%s"), [_params(row, False) for row in rows])
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # invalidated just below
                conn.rollback()
            conn.invalidate()
            raise
        finally:
            conn.close()
        return True

    async def aclose(self) -> None:
        """Write what is gathered, then refuse further writes."""
        self._stopped = True
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(Exception):  # shutting down (or already shut down)
            self._executor.submit(self._close_connection).result(timeout=10)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        conn, self._conn, self._conn_engine = self._conn, None, None
        if conn is not None:
            conn.close()


def _params(row: dict[str, Any], sqlite: bool) -> tuple[Any, ...]:
    values = _row_values(row)
    if not sqlite:
        return values  # type: ignore[no-any-return]
    return (values[0], sqlite_time(values[1]), *values[2:])


# Frames sent to the writer process and not yet acknowledged, per connection: one being
# committed, and up to two waiting, which the writer commits together (measured: 3 rather than
# 2 raised the ingestion bench by about 6%, within noise; 4 was no better).
MAX_UNACKNOWLEDGED = 3
# How long a web process waits for a writer process to start before answering 503.
START_SECONDS = 15.0


class WriterUnavailable(Exception):
    """The event writer process cannot take events right now (the request answers 503)."""


class WriterGone(WriterUnavailable):
    """The connection to the event writer process broke before it answered."""


class WriteFailed(Exception):
    """The event writer process could not commit a frame (the request answers 503)."""


class _Link(asyncio.Protocol):
    """One event loop's connection to the writer process.

    The rows of the requests that await a write go out together as one frame, at most
    MAX_UNACKNOWLEDGED frames at a time: while the writer process commits one, the next ones
    wait there or gather here. Waking the other process costs more than the bytes sent (on a
    virtual machine a cross-CPU wake-up is a trip through the hypervisor), so fewer, fuller
    frames are what makes this fast. Each acknowledgement settles its frame's submissions.
    """

    def __init__(self, owner: ProcessEventWriter, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.buffer = bytearray()
        self.rows: list[tuple[Any, ...]] = []
        self.submissions: list[_Submission] = []
        self.inflight: dict[int, list[_Submission]] = {}
        self.sequence = 0
        self.scheduled = False
        self.unacknowledged = 0

    def add(self, submission: _Submission) -> None:
        self.rows.extend(submission.values)
        self.submissions.append(submission)
        if not self.scheduled and self.transport is not None:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        if not self.submissions or self.transport is None or self.closed:
            return
        if self.unacknowledged >= MAX_UNACKNOWLEDGED:
            return  # sent when an acknowledgement comes back
        self.unacknowledged += 1
        self.sequence += 1
        self.inflight[self.sequence] = self.submissions
        self.transport.write(encode_frame([self.sequence, self.rows]))
        self.rows, self.submissions = [], []

    def waiting(self) -> list[asyncio.Future[None]]:
        everything = (self.submissions, *self.inflight.values())
        return [s.done for submissions in everything for s in submissions]

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            messages = take_frames(self.buffer)
        except (ValueError, msgspec.DecodeError) as exc:
            self.fail(WriterUnavailable(f"the event writer process sent garbage: {exc}"))
            return
        for sequence, status, detail in messages:
            self.unacknowledged -= 1
            submissions = self.inflight.pop(sequence, [])
            error = WriteFailed(detail) if status == FAILED else None
            for submission in submissions:
                submission.settled(error)
            if status == PENDING:
                self.owner.on_commit()
        self.flush()  # what gathered meanwhile

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(WriterGone("the event writer process went away"))

    def fail(self, error: Exception) -> None:
        """Every request still waiting answers 503: nothing it sent is promised."""
        self.closed = True
        waiting = [s for group in (self.submissions, *self.inflight.values()) for s in group]
        self.rows, self.submissions, self.inflight = [], [], {}
        for submission in waiting:
            submission.settled(error)  # (one retried goes to a new link)
        if self.transport is not None:
            self.transport.close()


class _Submission:
    """One request's rows on their way through the writer process, settled by the link that
    sent them (no reference cycles: at thousands a second, garbage that only the cycle
    collector can free costs CPU; and no future of its own: `done` is the request's)."""

    __slots__ = ("writer", "loop", "values", "done", "retried")

    def __init__(
        self,
        writer: ProcessEventWriter,
        loop: asyncio.AbstractEventLoop,
        values: list[tuple[Any, ...]],
        done: asyncio.Future[None],
    ) -> None:
        self.writer = writer
        self.loop = loop
        self.values = values
        self.done = done
        self.retried = False
        writer.waiting += len(values)

    def send(self) -> None:
        self.writer._link(self.loop).add(self)

    def settled(self, error: BaseException | None) -> None:
        """The writer process committed the rows (error None), or they failed."""
        if isinstance(error, WriterGone) and not self.retried:
            # The writer process went away (its connection broke) before answering: it may
            # not have written them. Once more through a new one, as the sender would on a 503
            # (at worst an event is stored twice, which deduplication absorbs).
            self.retried = True
            self.send()
            return
        self.writer.waiting -= len(self.values)
        done = self.done
        if done.done():  # its request went away meanwhile
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class ProcessEventWriter:
    """Group commit through the event writer process (writer_process.py), from async code.

    The web processes of one database file share one writer process. This process keeps a
    "hold" connection to it for as long as it runs (started with the web process, `start`);
    each of its event loops (tests run several) has a data connection of its own. If the
    writer process dies, the next write starts a new one, and the requests it had not
    acknowledged are sent once more through it (503 if that fails too).
    """

    def __init__(self, database: Path, *, max_waiting: int = 50_000, turn: WriteTurn) -> None:
        self._database = database
        self._turn = turn
        self.max_waiting = max_waiting
        self.on_commit: Callable[[], None] = lambda: None
        self.waiting = 0
        self._stopped = False
        self._lock = threading.Lock()  # starting the process, (re)connecting the hold
        self._send_lock = threading.Lock()  # writes on the hold connection
        self._proc: subprocess.Popen[bytes] | None = None
        self._hold: socket.socket | None = None
        self.pid: int | None = None  # the writer process's, once held
        self._socket, _ = socket_paths(str(database))
        self._links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Link] = (
            weakref.WeakKeyDictionary()
        )
        self._last_link: _Link | None = None
        turn.shared = self

    # -- the process -------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or join) the writer process in the background; the first write waits."""
        if not self._stopped:
            threading.Thread(target=self._start_quietly, name="tocsin-writer-start").start()

    def _start_quietly(self) -> None:
        try:
            self._ensure_running()
        except Exception as exc:  # the first write will try again, and answer 503 if it fails
            log.error("ingest.writer_unavailable", error=str(exc))

    def _held(self) -> bool:
        hold = self._hold
        if hold is None:
            return False
        try:
            return hold.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True  # nothing to read, still open
        except OSError:
            return False

    def _ensure_running(self) -> None:
        """(Blocking.) Return once this process holds a running writer process, starting one
        if there is none."""
        with self._lock:
            if self._held():
                return
            self._release()
            deadline = time.monotonic() + START_SECONDS
            while True:
                # Connect first: a writer process this one just started must be held at once,
                # even if Tocsin is stopping meanwhile (stop() lets go of it).
                hold = self._connect_hold()
                if hold is not None:
                    self._hold = hold
                    return
                if self._stopped:
                    raise WriterUnavailable("Tocsin is shutting down")
                if time.monotonic() > deadline:
                    raise WriterUnavailable("the event writer process did not start")
                if not self._spawn():
                    time.sleep(0.02)  # another one is starting or stopping: try it again

    def _connect_hold(self) -> socket.socket | None:
        hold = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            hold.settimeout(5.0)
            hold.connect(self._socket)
            hold.sendall(encode_frame([HOLD]))
            buffer = bytearray()
            while not (replies := take_frames(buffer)):
                data = hold.recv(64)
                if not data:
                    raise ConnectionError("closed")
                buffer += data
            self.pid = int(replies[0][0])
            hold.setblocking(True)
            return hold
        except OSError:
            hold.close()
            return None

    def _spawn(self) -> bool:
        """Start a writer process; False if another one serves this database already."""
        self._reap()
        proc = subprocess.Popen(
            command(str(self._database)), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        line = b""  # "ready", "busy", or nothing if it failed or hangs
        if select.select([proc.stdout], [], [], START_SECONDS)[0]:
            line = proc.stdout.readline().strip()
        else:
            proc.kill()
        if line == b"ready":
            self._proc = proc
            return True
        proc.wait(timeout=10)
        proc.stdout.close()
        if line != b"busy":
            raise WriterUnavailable(f"the event writer process did not start ({proc.returncode})")
        return False

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.close()

    def _reap(self, timeout: float = 0.0) -> None:
        """Collect the writer process this process started, once it has exited."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        if proc.returncode is not None:
            if proc.returncode not in (0, -signal.SIGTERM):
                log.error("ingest.writer_process_exited", code=proc.returncode)
            self._proc = None
            if proc.stdout is not None:
                proc.stdout.close()

    def want(self, delta: int) -> None:
        """Tell the writer process that one more (+1) or one fewer (-1) of this process's
        threads waits for the write lock."""
        with self._send_lock:
            hold = self._hold
            if hold is not None:
                with contextlib.suppress(OSError):
                    hold.sendall(encode_frame([WANT, delta]))

    # -- writing -----------------------------------------------------------------------------

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once these rows are committed; raise what prevented it."""
        await self.submit(rows)

    def submit(
        self, rows: list[dict[str, Any]], loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Future[None]:
        """Take these rows (or raise Overloaded); the future is done once they are committed,
        or holds what prevented it. Called from the event loop, which the caller may pass
        (asking for the running loop costs a system call, getpid, in CPython 3.11)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not rows:
            done.set_result(None)
            return done
        _make_room(self, len(rows))
        _Submission(self, loop, [_params(row, True) for row in rows], done).send()
        return done

    def _link(self, loop: asyncio.AbstractEventLoop) -> _Link:
        """This event loop's open link to the writer process (a new one if it has none)."""
        link = self._last_link  # nearly always: one event loop per web process
        if link is not None and link.loop is loop and not link.closed:
            return link
        link = self._links.get(loop)
        if link is None or link.closed:
            link = _Link(self, loop)
            self._links[loop] = link
            loop.create_task(self._connect(link))
        self._last_link = link
        return link

    async def _connect(self, link: _Link) -> None:
        try:
            if not self._held():
                await link.loop.run_in_executor(None, self._ensure_running)
            await link.loop.create_unix_connection(lambda: link, self._socket)
        except Exception as exc:
            log.error("ingest.writer_unavailable", error=str(exc))
            link.fail(exc if isinstance(exc, WriterUnavailable) else WriterUnavailable(str(exc)))

    async def aclose(self) -> None:
        """Wait for what this event loop sent to be written, then refuse further writes."""
        self._stopped = True
        link = self._links.get(asyncio.get_running_loop())
        if link is not None:
            waiting = link.waiting()
            if waiting:
                await asyncio.wait(waiting, timeout=30)
            if link.transport is not None:
                link.transport.close()

    def stop(self) -> None:
        """Let go of the writer process (it exits once no web process holds it)."""
        self._stopped = True
        self._turn.shared = None
        with self._lock:
            self._release()
            self._reap(timeout=2.0)
