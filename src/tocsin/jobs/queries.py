"""Reading the queue: what is waiting, running, failed (for `tocsin jobs` and checks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.errors import ValidationFailed
from tocsin.jobs.models import QUEUED, RUNNING, STATES, Job, JobProbeRun


def list_jobs(
    session: Session,
    *,
    states: Sequence[str] = (QUEUED, RUNNING, "failed"),
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """Jobs in these states, most urgent first (running, then by run_at)."""
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise ValidationFailed(
            f"unknown job state {unknown[0]!r}; one of {', '.join(STATES)}", field="state"
        )
    query = select(Job).where(Job.state.in_(list(states)))
    if kind:
        query = query.where(Job.kind == kind)
    query = query.order_by(Job.run_at.desc() if states == ("done",) else Job.run_at, Job.id)
    return list(session.scalars(query.limit(max(1, min(limit, 10_000)))))


def counts(session: Session) -> dict[str, dict[str, int]]:
    """{state: {kind: count}} over the whole table."""
    found: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(Job.state, Job.kind, func.count(Job.id)).group_by(Job.state, Job.kind)
    ).all()
    for state, kind, count in rows:
        found.setdefault(state, {})[kind] = int(count)
    return found


def as_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "key": job.key,
        "run_at": job.run_at.isoformat(),
        "attempts": job.attempts,
        "leased_by": job.leased_by,
        "lease_expires_at": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "last_error": job.last_error,
        "payload": job.payload,
    }


def probe_runs(session: Session, token: str) -> list[JobProbeRun]:
    return list(
        session.scalars(
            select(JobProbeRun).where(JobProbeRun.token == token).order_by(JobProbeRun.id)
        )
    )
