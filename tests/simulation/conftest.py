"""A dry run is checked against real paging of the same organisation (tests/escalation)."""

from __future__ import annotations

from tests.escalation.conftest import org, settings, smtp  # noqa: F401
