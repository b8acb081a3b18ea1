"""Helpers for the alert tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tocsin.bootstrap import Container
from tocsin.config import Settings
from tocsin.migrate import downgrade, upgrade


@contextlib.contextmanager
def downgraded(settings: Settings, container: Container, revision: str) -> Iterator[None]:
    """The test database migrated down to `revision` inside the block, and back up after."""
    try:
        downgrade(container.engine, settings, revision)
        yield
    finally:
        upgrade(container.engine, settings)
