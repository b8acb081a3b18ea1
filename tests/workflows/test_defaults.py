"""The seeded severity workflows: enabled on a new database, disabled when an existing one
gains them by an upgrade (nobody is paged by something they did not choose). Both on an
SQLite file of the test's own, whatever the suite's database: the choice is made by
`migrate.upgrade`, the same on both."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import select

from tocsin.audit.changes import unrecorded
from tocsin.config import Settings
from tocsin.db import make_engine, transaction
from tocsin.definitions.service import ensure_defaults
from tocsin.migrate import alembic_config, upgrade
from tocsin.wiring import session_factory
from tocsin.workflows.models import Workflow


def _seeded(settings: Settings) -> list[tuple[str, bool]]:
    engine = make_engine(settings)
    try:
        with transaction(session_factory(engine, settings)) as session:
            rows = session.execute(select(Workflow.name, Workflow.enabled).order_by(Workflow.id))
            return [(name, enabled) for name, enabled in rows]
    finally:
        engine.dispose()


def test_a_new_database_has_the_seeded_workflows_enabled(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'new.db'}", env="test")
    engine = make_engine(settings)
    upgrade(engine, settings)
    engine.dispose()
    seeded = _seeded(settings)
    assert [name.split(":")[0] for name, _ in seeded] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert all(enabled for _, enabled in seeded)


def test_an_upgraded_database_gets_them_disabled(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'old.db'}", env="test")
    engine = make_engine(settings)
    # An install from before workflows existed: its schema at 0034, its vocabulary written.
    cfg = alembic_config(settings)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0034")
    with transaction(session_factory(engine, settings)) as session:
        unrecorded(session)  # as `upgrade` writes them (no audit trail at 0034 either)
        assert ensure_defaults(session)
    upgrade(engine, settings)
    engine.dispose()
    seeded = _seeded(settings)
    assert len(seeded) == 4
    assert not any(enabled for _, enabled in seeded)
