"""Applying migrations and the default vocabulary (`tocsin db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.definitions.service import ensure_defaults
from tocsin.postmortems.policies import ensure_default_policies
from tocsin.runbooks.defaults import ensure_default_runbooks
from tocsin.wiring import session_factory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, settings: Settings, revision: str = "head") -> None:
    """Bring the schema to `revision`, then make sure the default vocabulary (and, on a new
    database, the postmortem policies of its severities) exists, and the default runbooks
    where none was ever written (a database from before runbooks gets them here too)."""
    cfg = alembic_config(settings)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with transaction(session_factory(engine, settings)) as session:
        if ensure_defaults(session):
            ensure_default_policies(session)
        ensure_default_runbooks(session)
