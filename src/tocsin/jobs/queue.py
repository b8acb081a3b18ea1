"""Writing jobs. Callers enqueue inside their own transaction; nothing runs until commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.jobs.models import Job


def enqueue(
    session: Session, kind: str, payload: dict[str, Any], *, run_at: datetime | None = None
) -> Job:
    """Queue a job in the caller's transaction; a rollback discards it with the change."""
    job = Job(kind=kind, payload=payload, run_at=run_at or utcnow())
    session.add(job)
    return job
