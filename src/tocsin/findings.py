"""What `tocsin check` finds: problems that would stop a page (or a message) from reaching
people, found before an incident does.

Each domain contributes a check (a function of the session, now and how many weeks ahead to
look); the composition root lists them (`tocsin.wiring.build_checks`), so that the command,
`GET /api/v1/checks` and the escalation page report the same findings and no domain imports
another to collect them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Finding:
    severity: str  # "problem" (exit code 1) or "warning"
    # gaps, unpaged_service, unreachable_policy, unreachable_level, no_contact,
    # deactivated_person, comms_channel,
    # webhook
    check: str
    subject: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Check = Callable[[Session, datetime, int], list[Finding]]


@dataclass(frozen=True)
class Checks:
    checks: Sequence[Check]

    def run(self, session: Session, now: datetime, *, weeks: int = 4) -> list[Finding]:
        """Every finding, problems first (each check's own order kept)."""
        findings = [finding for check in self.checks for finding in check(session, now, weeks)]
        findings.sort(key=lambda f: f.severity != "problem")
        return findings
