"""The event writer process (SQLite): group commit for accepted events, outside the web process.

One Python process cannot both serve thousands of requests a second and commit them: the event
loop and a writer thread take turns on the GIL, and the hand-overs cost more than the disk
(measured: docs/benchmarks.md). So on SQLite each web process starts one of these. The web
process sends the rows of the requests it accepted during one turn of its event loop as one
frame over a Unix socket; this process commits every frame that arrived while it was
committing the previous ones, in one transaction (one fsync), settles repeats of open alerts on
the way (repeats.py), and only then acknowledges each frame. A request answers 2xx only once
its frame is acknowledged; a frame that fails, or a process that dies, makes its requests
answer 503, so no 2xx is ever lost.

Every web process on one database file shares one writer process (`tocsin serve --workers N`):
its socket and its lock file sit next to the database (socket_paths). Whoever finds no writer
starts one; a writer that cannot take the lock file exits at once ("busy"), since another one
serves that database. Each web process keeps one "hold" connection open for as long as it
runs; the writer exits when the last hold closes (a web process that is killed closes its own).

Its only writes are these inserts and the counts of settled repeats: while frames keep
arriving, those go to alert_tallies and are added to their alerts once nothing waits (or once
a second), so that a commit does not rewrite the row of every alert it repeats. The repeats it
settles are chained to their alert rather than put in the index of alerts' events, and it
remembers what it looked up while no other connection commits (repeats.Memory). The web
processes' event processors and job workers still apply events and run jobs; when one of them wants
SQLite's write lock, it says so on its process's hold connection ("want"), and the writer holds
back its next transaction for a moment (at most TURN_WAIT_SECONDS), so that neither starves
the other. SQLite's own busy handler sleeps for up to 100 ms between tries; the writer does not
use it, and retries its own BEGIN every half millisecond instead.

It imports no ORM (start-up is about 50 ms).

Wire format, both ways: a 4-byte big-endian length, then a msgpack array.
- web → writer, on a data connection: [sequence, rows], each row the values of COLUMNS in order
  (times as SQLite stores them).
- writer → web: [sequence, status, detail]: COMMITTED (every row settled), PENDING (committed,
  some rows wait for the event processor) or FAILED (nothing of that frame was written; detail
  says why).
- on a hold connection: web → writer ["hold"], writer → web [its pid]; then web → writer
  ["want", +1 or -1].
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import operator
import os
import selectors
import signal
import socket
import sqlite3
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from tocsin.alerts.repeats import Memory, fold_tallies, mark_repeats

COLUMNS = (
    "integration_id",
    "received_at",
    "action",
    "dedup_key",
    "summary",
    "data",
    "raw",
    "request_id",
    "outcome",
    "outcome_detail",
    # Set only on rows settled as they are written (repeats of an open alert, repeats.py).
    "alert_id",
    "service_id",
    "processed_at",
)

# What the writer inserts on a database that chains repeats (migration 0017): the ids it gives
# its rows, and the chain of each settled repeat (repeats.py).
CHAINED_COLUMNS = ("id", *COLUMNS, "repeat_of", "previous_repeat")

COMMITTED, PENDING, FAILED = 0, 1, 2
MAX_FRAME = 256 * 1024 * 1024
# One transaction takes at most this many rows; the rest wait for the next one.
MAX_BATCH_ROWS = 20_000
# How long the writer holds back for the event processor or the job worker (see above).
TURN_WAIT_SECONDS = 0.05
# How long a transaction may wait for SQLite's write lock before its frames fail (503).
LOCK_WAIT_SECONDS = 30.0
# A writer nobody holds within this long of starting (its starter died) exits.
UNHELD_SECONDS = 10.0
# Checkpoints (copying the write-ahead log into the database file): once the log file has
# reached BACKGROUND_CHECKPOINT_PAGES, the Checkpointer thread copies what commits add to it,
# off the commit path (the file keeps its size when the log starts over, so from then on it
# runs after every few commits); a commit that finds CHECKPOINT_PAGES in the log finishes the
# job (little is left by then) so that the log starts over, which keeps it under about 16 MB.
BACKGROUND_CHECKPOINT_PAGES = 1000
CHECKPOINT_PAGES = 4000
CHECKPOINT_PAUSE_SECONDS = 0.02
# While frames keep arriving, the counts of settled repeats go to alert_tallies; they are added
# to their alerts by the first commit that finds no frame waiting, or after this long.
FOLD_SECONDS = 1.0
HOLD, WANT = "hold", "want"

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
_LENGTH = struct.Struct(">I")


@functools.cache
def insert_sql(mark: str, columns: tuple[str, ...] = COLUMNS) -> str:
    marks = ", ".join(mark for _ in columns)
    return f"INSERT INTO events ({', '.join(columns)}) VALUES ({marks})"


@functools.cache
def _values(columns: tuple[str, ...]) -> operator.itemgetter[Any]:
    """A row's values for `insert_sql(mark, columns)`, in order."""
    return operator.itemgetter(*columns)


def sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite storage format for our UTC datetimes (YYYY-MM-DD HH:MM:SS.ffffff)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def socket_paths(database: str) -> tuple[str, str]:
    """The writer's socket and lock file for this database file: next to it, or (when that
    path is too long for a Unix socket) in a private directory under the temporary one."""
    database = os.path.abspath(database)
    socket_path = database + ".writer.sock"
    if len(socket_path.encode()) < 100:
        return socket_path, database + ".writer.lock"
    digest = hashlib.sha256(database.encode()).hexdigest()[:24]
    folder = os.path.join(tempfile.gettempdir(), f"tocsin-{os.getuid()}-{digest}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.stat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not private to this user")
    return os.path.join(folder, "events.sock"), os.path.join(folder, "writer.lock")


def _stamp(value: datetime | str) -> str:
    return value if isinstance(value, str) else sqlite_time(value)


def encode_frame(message: Any) -> bytes:
    payload = _encode(message)
    return _LENGTH.pack(len(payload)) + payload


def take_frames(buffer: bytearray) -> list[Any]:
    """The complete messages at the start of `buffer`, removed from it."""
    messages: list[Any] = []
    position = 0
    while len(buffer) - position >= 4:
        (size,) = _LENGTH.unpack_from(buffer, position)
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes is larger than {MAX_FRAME}")
        if len(buffer) - position - 4 < size:
            break
        messages.append(_decode(memoryview(buffer)[position + 4 : position + 4 + size]))
        position += 4 + size
    del buffer[:position]
    return messages


def _log(event: str, **fields: Any) -> None:
    """One JSON line on standard error (the parent's log), without structlog's start-up."""
    line = msgspec.json.encode({"event": event, "logger": "tocsin.event_writer", **fields})
    with contextlib.suppress(OSError):
        sys.stderr.buffer.write(line + b"\n")
        sys.stderr.buffer.flush()


class _Frame:
    __slots__ = ("conn", "sequence", "rows")

    def __init__(self, conn: socket.socket, sequence: int, rows: list[list[Any]]) -> None:
        self.conn = conn
        self.sequence = sequence
        self.rows = rows


class Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own.

    SQLite checkpoints inside the commit that finds the log long enough: every request of that
    batch then waits for pages to be copied and the database file to be fsynced (measured:
    about a tenth of the writer's time at 1,000 pages, and tens of milliseconds at once with a
    longer log). This thread does most of that copying in passive checkpoints on a connection
    of its own (sqlite3 lets go of the GIL meanwhile, and writers are not blocked), after the
    commits that make the log long enough; the commits' own checkpoint (CHECKPOINT_PAGES) only
    finishes what is left, so that the log can start over.
    """

    def __init__(self, database: str, pages: int = BACKGROUND_CHECKPOINT_PAGES) -> None:
        self.database = database
        self.wal = database + "-wal"
        self.pages = pages
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="tocsin-checkpoints", daemon=True)
        self.thread.start()

    def committed(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        limit: int | None = None
        complained = 0.0
        try:
            while True:
                woken = self.wake.wait(1.0)
                if self.stopping:
                    return
                if not woken:
                    continue  # no commit meanwhile: nothing to copy
                self.wake.clear()
                try:
                    if db is None:
                        db = sqlite3.connect(
                            self.database, isolation_level=None, timeout=0, check_same_thread=False
                        )
                        page_size = db.execute("PRAGMA page_size").fetchone()[0]
                        limit = self.pages * (page_size + 24)  # a log frame: header and page
                    if limit is not None and os.path.getsize(self.wal) >= limit:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except FileNotFoundError:
                    pass  # no log yet
                except (OSError, sqlite3.Error) as exc:
                    # Busy while another checkpoint runs: the next one will do. Anything else
                    # is said, at most once a minute; the commits' own checkpoints go on.
                    if "locked" not in str(exc) and time.monotonic() - complained > 60:
                        complained = time.monotonic()
                        _log("ingest.checkpoint_failed", error=str(exc))
                time.sleep(CHECKPOINT_PAUSE_SECONDS)  # a few commits' worth at a time
        finally:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()


class Writer:
    """The loop of the writer process: read frames, commit them together, acknowledge each."""

    def __init__(self, listener: socket.socket, database: str) -> None:
        self.listener = listener
        self.database = database
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.buffers: dict[socket.socket, bytearray] = {}
        self.waiting: list[_Frame] = []
        # Hold connections (one per web process) and how many of its threads want a turn.
        self.holders: dict[socket.socket, int] = {}
        self.ever_held = False
        self.db: sqlite3.Connection | None = None
        self.stopping = False
        self.started = time.monotonic()
        self.columns = CHAINED_COLUMNS
        self.checkpointer = Checkpointer(database)
        # Whether alert_tallies may hold counts (None: not looked yet), and when they were
        # last added up. On a database from before migration 0017 (not upgraded yet) there
        # are neither tallies nor chains: each commit counts on each alert, as before.
        self.tallied: bool | None = None
        self.tallies = True
        self.folded_at = time.monotonic()
        # What it knows of open alerts, waiting keys and chains of settled repeats
        # (repeats.Memory), true as long as PRAGMA data_version (which changes when another
        # connection commits) is what it was after this connection's last transaction.
        self.memory: Memory | None = Memory()
        self.version: int | None = None

    # -- sockets -----------------------------------------------------------------------------

    def _poll(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._accept()
            else:
                self._read(key.data)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.buffers[conn] = bytearray()
            self.selector.register(conn, selectors.EVENT_READ, conn)

    def _read(self, conn: socket.socket) -> None:
        buffer = self.buffers.get(conn)
        if buffer is None:
            return
        closed = False
        while True:
            try:
                data = conn.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                closed = True
                break
            buffer += data
        try:
            messages = take_frames(buffer)
        except (ValueError, msgspec.DecodeError) as exc:
            _log("ingest.writer_bad_frame", error=str(exc))
            messages, closed = [], True
        for message in messages:
            if message and message[0] == WANT and conn in self.holders:
                self.holders[conn] = max(0, self.holders[conn] + int(message[1]))
            elif message and message[0] == HOLD:
                self.holders[conn] = 0
                self.ever_held = True
                self._send(conn, [os.getpid()])
            elif len(message) == 2:
                self.waiting.append(_Frame(conn, message[0], message[1]))
        if closed:
            self._drop(conn)  # frames already read are still written: never lose them

    def _drop(self, conn: socket.socket) -> None:
        if conn in self.buffers:
            self.selector.unregister(conn)
            del self.buffers[conn]
        self.holders.pop(conn, None)
        conn.close()

    def _send(self, conn: socket.socket, message: Any) -> None:
        if conn not in self.buffers:
            return  # its web process is gone (it answered 503 already)
        data = memoryview(encode_frame(message))
        deadline = time.monotonic() + 10.0
        while data:
            try:
                sent = conn.send(data)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._drop(conn)  # a web process that reads nothing for 10 s is stuck
                    return
                time.sleep(0.001)
                continue
            except OSError:
                self._drop(conn)
                return
            data = data[sent:]

    def _reply(self, frame: _Frame, status: int, detail: str = "") -> None:
        self._send(frame.conn, [frame.sequence, status, detail])

    # -- the database ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self.db is None:
            db = sqlite3.connect(self.database, isolation_level=None, timeout=0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            # Every accepted event is on disk before its 2xx.
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
            self.db = db
        return self.db

    def _close_db(self) -> None:
        db, self.db = self.db, None
        self.version = None  # a new connection counts data_version anew
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _give_way(self) -> None:
        """Hold back while an event processor or a job worker waits for the write lock."""
        deadline = time.monotonic() + TURN_WAIT_SECONDS
        while any(self.holders.values()) and time.monotonic() < deadline:
            self._poll(0.0005)

    def _begin(self, cursor: sqlite3.Cursor) -> None:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction (after giving way to a waiting processor or worker): committed
        at the end of the block, rolled back if it raises."""
        self._give_way()
        cursor = self._connection().cursor()
        self._begin(cursor)
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
            raise

    def _commit(self, frames: list[_Frame]) -> bool:
        """Write the frames' rows in one transaction; returns whether any is left pending."""
        rows = [dict(zip(COLUMNS, values, strict=True)) for f in frames for values in f.rows]
        with self._transaction() as cursor:
            self._look_for_tallies(cursor)
            version, folded = self._chain_ids(cursor, rows)
            repeats = mark_repeats(
                cursor, rows, now=datetime.now(UTC), stamp=_stamp, memory=self.memory
            )
            columns = self.columns
            cursor.executemany(insert_sql("?", columns), map(_values(columns), rows))
            # Another commit right behind this one (frames arrived meanwhile): count this
            # one's repeats in alert_tallies, and leave the alerts' rows to a later commit.
            self._poll(0)
            defer = (
                self.tallies
                and bool(self.waiting)
                and time.monotonic() - self.folded_at < FOLD_SECONDS
            )
            repeats.count(cursor, _stamp, tally=defer)
            if not defer and self.tallied and not folded:
                fold_tallies(cursor)
        if defer:
            self.tallied = True
        else:
            self.tallied = False
            self.folded_at = time.monotonic()
        if self.memory is not None:
            # (Too much to remember: forget it all at the next transaction.)
            self.version = version if self.memory.learn(repeats) else None
        return repeats.pending

    def _chain_ids(
        self, cursor: sqlite3.Cursor, rows: list[dict[str, Any]]
    ) -> tuple[int | None, bool]:
        """Give the rows the ids they are about to be inserted with (this transaction holds
        the write lock, so they follow the largest id) and empty chains, for mark_repeats; if
        another connection committed since this one's last transaction, forget what the
        writer knew (and add up alert_tallies, so that chains go on from the alerts' own
        last_repeat_id). Returns the connection's data_version, which holds once this
        transaction commits, and whether it added the tallies up."""
        if self.memory is None:
            return None, False
        version: int = cursor.execute("PRAGMA data_version").fetchone()[0]
        folded = False
        if version != self.version:
            self.version = None  # until a transaction commits
            if self.tallied:
                fold_tallies(cursor)
                folded = True
            self.memory.start_over()
        (largest,) = cursor.execute("SELECT max(id) FROM events").fetchone()
        next_id = (largest or 0) + 1
        for row in rows:
            row["id"] = next_id
            row["repeat_of"] = row["previous_repeat"] = None
            next_id += 1
        return version, folded

    def _look_for_tallies(self, cursor: sqlite3.Cursor) -> None:
        """At the first transaction: whether alert_tallies holds counts (left by a writer that
        stopped under load, or was killed), so that the next commit that folds adds them up;
        and whether the database has migration 0017's chains (and with them the tallies)."""
        if self.tallied is not None or not self.tallies:
            return
        columns = {row[1] for row in cursor.execute("PRAGMA table_info(alert_tallies)")}
        if "last_repeat_id" not in columns:
            # A database from before the chains (or the table): count on each alert.
            self.tallies, self.tallied, self.memory = False, False, None
            self.columns = COLUMNS
            return
        self.tallied = cursor.execute("SELECT 1 FROM alert_tallies LIMIT 1").fetchone() is not None

    def _fold(self) -> None:
        """Add up what alert_tallies holds, in a transaction of its own (the writer is idle)."""
        try:
            with self._transaction() as cursor:
                self._look_for_tallies(cursor)
                if self.tallied:
                    fold_tallies(cursor)
        except sqlite3.Error as exc:
            _log("ingest.tally_failed", error=str(exc))
            self._close_db()
            return
        self.tallied = False
        self.folded_at = time.monotonic()

    def _write(self, frames: list[_Frame]) -> None:
        try:
            pending = self._commit(frames)
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, ValueError, TypeError) as exc:
            if len(frames) > 1:
                # One frame's rows are at fault (say, its integration was just deleted): write
                # the others on their own so that they do not fail with it.
                for frame in frames:
                    self._write([frame])
                return
            _log("ingest.write_failed", error=str(exc), events=len(frames[0].rows))
            self._reply(frames[0], FAILED, str(exc))
            return
        except sqlite3.Error as exc:
            _log("ingest.write_failed", error=str(exc), events=sum(len(f.rows) for f in frames))
            self._close_db()  # start again from a new connection
            for frame in frames:
                self._reply(frame, FAILED, str(exc))
            return
        self.checkpointer.committed()
        status = PENDING if pending else COMMITTED
        for frame in frames:
            self._reply(frame, status)

    def _next_batch(self) -> list[_Frame]:
        count = 0
        for index, frame in enumerate(self.waiting):
            count += len(frame.rows)
            if count >= MAX_BATCH_ROWS:
                batch, self.waiting = self.waiting[: index + 1], self.waiting[index + 1 :]
                return batch
        batch, self.waiting = self.waiting, []
        return batch

    # -- the loop ----------------------------------------------------------------------------

    def _unheld(self) -> bool:
        if self.holders:
            return False
        return self.ever_held or time.monotonic() - self.started > UNHELD_SECONDS

    def run(self) -> None:
        while True:
            self._poll(0 if self.waiting else 0.5)
            if self.waiting:
                self._write(self._next_batch())
                continue
            if self.tallied or self.tallied is None and self.ever_held:
                # Idle with counts left in alert_tallies (the last commit failed, or a killed
                # writer left them): add them up now.
                self._fold()
            if self.stopping or self._unheld():
                break
        for conn in list(self.buffers):
            self._drop(conn)
        self.checkpointer.stop()
        self._close_db()


def serve(database: str) -> None:
    """Serve this database's web processes until none holds this process any more, or until
    SIGTERM (frames already read are written first). Prints "ready" once listening, or "busy"
    if another writer process serves this database."""
    socket_path, lock_path = socket_paths(database)
    lock = open(lock_path, "a+b")  # noqa: SIM115 (held for the life of the process)
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stdout.write("busy\n")
        sys.stdout.flush()
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)  # a dead writer's (we hold the lock now)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(128)
    listener.setblocking(False)
    writer = Writer(listener, database)

    def stop(*_: Any) -> None:
        writer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C in a terminal reaches the whole process group: the web processes shut down in
    # order and release this one after their last frame.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        writer.run()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(socket_path)
        listener.close()
        lock.close()


def command(database: str) -> list[str]:
    """The command line that starts a writer process for this database file."""
    return [sys.executable, "-m", "tocsin.alerts.writer_process", "--database", database]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tocsin's event writer process (SQLite)")
    parser.add_argument("--database", required=True, help="the SQLite database file")
    args = parser.parse_args(argv)
    serve(args.database)


if __name__ == "__main__":
    main()
