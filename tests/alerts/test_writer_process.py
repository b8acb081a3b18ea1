"""On SQLite, accepted events are committed by one event writer process per database file,
shared by every web process on it, and gone once none of them holds it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Event, Integration
from tocsin.alerts.pagerduty import parse_event
from tocsin.alerts.pipeline import EventProcessor, event_row
from tocsin.alerts.writer_process import socket_paths
from tocsin.alerts.writing import EventWriter, ProcessEventWriter, WriteTurn
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow


@pytest.fixture
def key(settings: Settings, db: Session) -> str:
    if settings.sqlite_path() is None:
        pytest.skip("the event writer process is SQLite's")
    svc = catalog.create_service(db, name="Written")
    _, secret = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    return secret


def _trigger(key: str, n: int) -> dict[str, object]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": f"k{n}",
        "payload": {"summary": f"event {n}", "source": "x", "severity": "info"},
    }


def _running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.05)
    return False


def _app(settings: Settings) -> Iterator[tuple[TestClient, Container]]:
    built = build(settings)
    with TestClient(create_app(built.settings, container=built)) as client:
        yield client, built
    built.close()


def test_web_processes_of_one_database_share_one_writer_process(
    settings: Settings, key: str
) -> None:
    first = _app(settings)
    second = _app(settings)
    (client_a, built_a), (client_b, built_b) = next(first), next(second)
    try:
        for n in range(5):
            assert client_a.post("/v2/enqueue", json=_trigger(key, n)).status_code == 202
            assert client_b.post("/v2/enqueue", json=_trigger(key, 10 + n)).status_code == 202
        writer_a, writer_b = built_a.intake.writer, built_b.intake.writer
        assert isinstance(writer_a, ProcessEventWriter)
        assert isinstance(writer_b, ProcessEventWriter)
        assert writer_a.pid is not None and writer_a.pid == writer_b.pid
        pid = writer_a.pid
        settle(built_a)
        with built_a.sessionmaker() as s:
            assert s.scalar(select(func.count(Event.id))) == 10
    finally:
        next(first, None)  # the first lets go: the other still holds the writer process
    assert _running(pid)
    assert client_b.post("/v2/enqueue", json=_trigger(key, 99)).status_code == 202
    next(second, None)  # the last one lets go: it exits
    assert _wait_gone(pid), "the writer process outlived every web process"


def test_a_second_writer_process_for_the_same_database_stands_aside(
    settings: Settings, key: str
) -> None:
    for client, built in _app(settings):
        assert client.post("/v2/enqueue", json=_trigger(key, 1)).status_code == 202
        database = str(settings.sqlite_path())
        done = subprocess.run(
            [sys.executable, "-m", "tocsin.alerts.writer_process", "--database", database],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0 and done.stdout.strip() == b"busy"
        # The first one still serves.
        assert client.post("/v2/enqueue", json=_trigger(key, 2)).status_code == 202
        settle(built)
        with built.sessionmaker() as s:
            assert s.scalar(select(func.count(Event.id))) == 2


def test_an_event_waits_for_another_writer_instead_of_failing(settings: Settings, key: str) -> None:
    """While another connection (the event processor, a person's action) holds SQLite's write
    lock, the writer process retries; the event is answered 202 once the lock is free."""
    for client, built in _app(settings):
        assert client.post("/v2/enqueue", json=_trigger(key, 0)).status_code == 202
        other = sqlite3.connect(str(settings.sqlite_path()), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        answers: list[int] = []

        def send(client: TestClient = client, answers: list[int] = answers) -> None:
            answers.append(client.post("/v2/enqueue", json=_trigger(key, 1)).status_code)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        assert answers == []  # not answered while the lock is held elsewhere
        other.execute("COMMIT")
        other.close()
        sender.join(timeout=10)
        assert answers == [202]
        settle(built)
        with built.sessionmaker() as s:
            assert s.scalar(select(func.count(Event.id))) == 2


def test_the_writer_process_exits_with_a_killed_web_process(
    settings: Settings, key: str, tmp_path: Path
) -> None:
    """A web process killed with SIGKILL cannot let go in order; its hold connection closes
    with it, and the writer process exits (after writing what it had read)."""
    script = (
        "import asyncio, sys\n"
        "from tocsin.alerts.writing import ProcessEventWriter, WriteTurn\n"
        "from pathlib import Path\n"
        "w = ProcessEventWriter(Path(sys.argv[1]), turn=WriteTurn(enabled=True))\n"
        "w._ensure_running()\n"
        "print(w.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    web = subprocess.Popen(
        [sys.executable, "-c", script, str(settings.sqlite_path())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert web.stdout is not None
        pid = int(web.stdout.readline())
        assert _running(pid)
        web.kill()
        web.wait(timeout=10)
        assert _wait_gone(pid), "the writer process outlived its killed web process"
    finally:
        if web.poll() is None:
            web.kill()


def test_an_idle_processor_never_makes_the_writer_hold_back(key: str, container: Container) -> None:
    """Polling for events other processes wrote is a read: only pending events make the
    processor ask for its turn at the write lock (and so the writer process hold back)."""
    asked: list[int] = []

    class Recorder:
        def want(self, delta: int) -> None:
            asked.append(delta)

    turn = WriteTurn(enabled=True)
    turn.shared = Recorder()  # type: ignore[assignment]
    processor = EventProcessor(container.sessionmaker, poll_seconds=0.02, turn=turn)
    processor.start()
    try:
        time.sleep(0.3)  # about 15 polls, nothing pending
        assert asked == []
        with container.sessionmaker() as s:  # an event another process stored
            integration = s.scalars(select(Integration).where(Integration.name == "pd")).one()
            event = parse_event(_trigger(key, 7))
            s.execute(
                insert(Event), [event_row(integration.id, event, raw=None, received_at=utcnow())]
            )
            s.commit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with container.sessionmaker() as s:
                if s.scalar(select(Event.outcome)) != "pending":
                    break
            time.sleep(0.02)
        with container.sessionmaker() as s:
            assert s.scalar(select(Event.outcome)) == "created_alert"
        assert asked[:2] == [1, -1]  # it took its turn to apply that one
    finally:
        processor.stop()


def _long_path_copy(settings: Settings, tmp_path: Path) -> Settings:
    """The same database at a path too long for a Unix socket beside it."""
    folder = tmp_path / ("d" * 90)
    folder.mkdir()
    database = folder / "tocsin.db"
    source = sqlite3.connect(str(settings.sqlite_path()))
    target = sqlite3.connect(str(database))
    source.backup(target)
    source.close()
    target.close()
    return settings.model_copy(update={"database_url": f"sqlite:///{database}"})


def test_a_database_path_too_long_for_a_socket_uses_a_private_directory(
    settings: Settings, key: str, tmp_path: Path
) -> None:
    long = _long_path_copy(settings, tmp_path)
    socket_path, _ = socket_paths(str(long.sqlite_path()))
    assert len(socket_path) < 100 and Path(socket_path).parent.stat().st_mode & 0o077 == 0
    try:
        for client, built in _app(long):
            writer = built.intake.writer
            assert isinstance(writer, ProcessEventWriter)
            assert client.post("/v2/enqueue", json=_trigger(key, 1)).status_code == 202
            pid = writer.pid
        assert pid is not None and _wait_gone(pid)
    finally:
        shutil.rmtree(Path(socket_path).parent, ignore_errors=True)


def test_without_a_private_place_for_its_socket_the_writer_thread_takes_over(
    settings: Settings, key: str, tmp_path: Path
) -> None:
    long = _long_path_copy(settings, tmp_path)
    database = str(long.sqlite_path())
    digest = hashlib.sha256(os.path.abspath(database).encode()).hexdigest()[:24]
    shared = Path(tempfile.gettempdir()) / f"tocsin-{os.getuid()}-{digest}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # anyone could plant a socket here: not used
    try:
        for client, built in _app(long):
            assert isinstance(built.intake.writer, EventWriter)
            assert client.post("/v2/enqueue", json=_trigger(key, 1)).status_code == 202
            settle(built)
            with built.sessionmaker() as s:
                assert s.scalar(select(func.count(Event.id))) == 1
    finally:
        shared.rmdir()


def test_the_checkpointer_copies_the_log_into_the_database_off_the_commit_path(
    tmp_path: Path,
) -> None:
    from tocsin.alerts.writer_process import Checkpointer

    database = str(tmp_path / "log.db")
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # no checkpoint inside any commit
    writer.execute("CREATE TABLE t (body TEXT)")
    for _ in range(20):  # about 500 pages, all of them in the log
        writer.execute("BEGIN")
        writer.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,) for _ in range(25)])
        writer.execute("COMMIT")
    before = os.path.getsize(database)
    assert before < 100_000 and os.path.getsize(database + "-wal") > 2_000_000

    checkpointer = Checkpointer(database, pages=100)
    try:
        checkpointer.committed()  # as the writer does after each commit
        deadline = time.monotonic() + 10
        while os.path.getsize(database) < 2_000_000:
            assert time.monotonic() < deadline, "the log was not copied into the database"
            time.sleep(0.02)
        # A reader that ignores the log (immutable) sees every row in the database file.
        copied = sqlite3.connect(f"file:{database}?immutable=1", uri=True)
        assert copied.execute("SELECT count(*) FROM t").fetchone()[0] == 500
        copied.close()
        # Meanwhile the writer goes on committing: a passive checkpoint never blocks it.
        writer.execute("INSERT INTO t VALUES ('after')")
    finally:
        checkpointer.stop()
        writer.close()
    assert not checkpointer.thread.is_alive()
