"""Engine, session factory and the declarative base. Built from Settings, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CursorResult,
    DateTime,
    Engine,
    MetaData,
    Result,
    Table,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from tocsin.config import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Base]) -> Table:
    """The Table a model is mapped to (SQLAlchemy types `__table__` as any FromClause)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


def rows_affected(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched. `Session.execute` answers those with a
    CursorResult, though it is typed as answering any Result."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} has no row count")
    return int(result.rowcount or 0)


def make_engine(settings: Settings) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit off at the driver level; SQLAlchemy emits BEGIN itself so that
            # BEGIN IMMEDIATE takes the write lock up front and avoids upgrade deadlocks.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit is on disk when it returns, so a 2xx for an event survives a crash
            # of the machine, not only of the process. Ingestion commits in groups to afford it.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so a transaction that reads and then
            # writes never fails on a lock upgrade. Read-only callers can opt out with the
            # execution option sqlite_begin="DEFERRED" (WAL readers never block the writer).
            options = conn.get_execution_options()
            mode = options.get("sqlite_begin", "IMMEDIATE")
            # FULL unless the caller opts out (work that can be redone: applying events, jobs).
            # Set only when it changes: the connection keeps it (Connection.info is the pooled
            # connection's own dictionary).
            sync = "NORMAL" if options.get("sqlite_synchronous") == "NORMAL" else "FULL"
            if conn.info.get("tocsin_synchronous") != sync:
                conn.exec_driver_sql(f"PRAGMA synchronous={sync}")
                conn.info["tocsin_synchronous"] = sync
            conn.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'DEFERRED' else 'IMMEDIATE'}")

        return engine
    engine = create_engine(settings.database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "begin")
    def _postgres_begin(conn: Any) -> None:
        # Work that can be redone after a crash (applying events, running jobs) opts out of
        # waiting for its WAL flush with the execution option pg_async_commit=True.
        if conn.get_execution_options().get("pg_async_commit"):
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

    return engine


def make_sessionmaker(
    engine: Engine, *, info: dict[str, Any] | None = None
) -> sessionmaker[Session]:
    """The session factory; `info` (the composition root's event bus) is in every session's
    `Session.info`."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info=info)


def rebind(factory: sessionmaker[Session], bind: Engine) -> sessionmaker[Session]:
    """A factory like `factory` (its bus included) on `bind`, e.g. the same engine with other
    execution options; session events listened for on it stay its own."""
    return sessionmaker(**{**factory.kw, "bind": bind})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def snapshot(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for long reads (verifying or exporting every audit record): one consistent
    view of the database that never blocks writers. On SQLite a deferred transaction, which
    never takes the write lock (WAL readers see the database as of their first read); on
    PostgreSQL REPEATABLE READ, so every query sees the same snapshot. Nothing it does is
    kept: it is rolled back at the end."""
    session = factory()
    try:
        options: dict[str, Any] = {"sqlite_begin": "DEFERRED"}
        if session.get_bind().dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        session.connection(execution_options=options)
        yield session
    finally:
        session.rollback()
        session.close()


# Any constant works; it only has to be the same in every Tocsin process.
EVENT_PROCESSOR_LOCK = 0x70C5_1A17


def wait_for_event_processor(session: Session) -> None:
    """Take the alert event processor's lock for this transaction, waiting for its running
    batch. Anything else that applies events, or deletes rows the processor is working on
    (an integration or a service, whose deletion cascades to their events and alerts), takes
    it first, so the two never deadlock. On SQLite the single writer already does this."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(EVENT_PROCESSOR_LOCK)))
