"""Helpers for the alert tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alembic import command

from tocsin.bootstrap import Container
from tocsin.config import Settings
from tocsin.migrate import alembic_config, upgrade


@contextlib.contextmanager
def downgraded(settings: Settings, container: Container, revision: str) -> Iterator[None]:
    """The test database migrated down to `revision` inside the block, and back up after."""
    config = alembic_config(settings)
    try:
        with container.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
        yield
    finally:
        upgrade(container.engine, settings)
