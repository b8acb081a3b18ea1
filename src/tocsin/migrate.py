"""Applying migrations and the default vocabulary (`tocsin db upgrade`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from tocsin.audit.changes import unrecorded
from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.definitions.service import ensure_defaults
from tocsin.postmortems.policies import ensure_default_policies
from tocsin.runbooks.defaults import ensure_default_runbooks
from tocsin.wiring import session_factory
from tocsin.workflows.defaults import ensure_default_workflows

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = structlog.get_logger("tocsin.migrate")


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    """Run a PRAGMA on the driver's connection, outside any transaction (SQLite ignores
    `foreign_keys` inside one; the driver runs in autocommit, see db.make_engine)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate on, in one transaction.

    On SQLite, foreign keys are off while the migrations run: a batch migration rebuilds a
    table by copying it and dropping the old one, and with foreign keys on, that drop deletes
    every row that refers to the table through ON DELETE CASCADE (an incident's timeline,
    action items and roles, when `incidents` is rebuilt). References are checked afterwards.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            _sqlite_pragma(conn, "foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        tables = sorted({str(row[0]) for row in broken})
                        log.warning("migrate.dangling_references", rows=len(broken), tables=tables)
        finally:
            if sqlite:
                _sqlite_pragma(conn, "foreign_keys=ON")


def upgrade(engine: Engine, settings: Settings, revision: str = "head") -> None:
    """Bring the schema to `revision`, then make sure the default vocabulary (and, on a new
    database, the postmortem policies of its severities) exists, and the default runbooks
    and workflows where none was ever written (an older database gets them here too, its
    workflows disabled; a new one has them enabled)."""
    cfg = alembic_config(settings)
    with _migrating(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with transaction(session_factory(engine, settings)) as session:
        # The product's defaults, not anyone's change: not in the audit trail.
        unrecorded(session)
        new = ensure_defaults(session)
        if new:
            ensure_default_policies(session)
        ensure_default_runbooks(session)
        # Enabled on a new database only: an upgrade pages nobody new (docs/workflows.md).
        ensure_default_workflows(session, enabled=new)


def downgrade(engine: Engine, settings: Settings, revision: str) -> None:
    """Take the schema back to `revision` (what a migration added is dropped; the rest of
    the data stays)."""
    cfg = alembic_config(settings)
    with _migrating(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
