"""The audit trail's retention: a periodic job purges records past the configured period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.audit.trail import purge
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.registry import JobKind, PeriodicJob

PURGE_JOB = "audit.purge"


def _purge_handler(days: int) -> Any:
    def run(session: Session, payload: dict[str, Any]) -> None:
        if days > 0:  # 0: kept forever
            purge(session, before=utcnow() - timedelta(days=days))

    return run


def job_kinds(settings: Settings) -> list[JobKind]:
    # A missed run is made up by the next: no retries.
    return [
        JobKind(
            PURGE_JOB,
            _purge_handler(settings.audit_retention_days),
            max_attempts=1,
            timeout_seconds=600,
        )
    ]


def periodic() -> list[PeriodicJob]:
    return [PeriodicJob(PURGE_JOB, every=timedelta(hours=6))]
