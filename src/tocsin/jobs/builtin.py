"""The job engine's own kinds: `jobs.purge` (periodic clean-up) and `jobs.probe` (proves a
worker is running and how soon it starts a job; `tocsin jobs probe`)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.jobs.models import CANCELLED, DONE, FAILED, Job, JobProbeRun
from tocsin.jobs.registry import PERIODIC_PREFIX, Handler, RunInfo, Send, current_run

PURGE = "jobs.purge"
PROBE = "jobs.probe"
# A probe may hold its run this long before recording it (to exercise leases in tests).
PROBE_HOLD_MAX_MS = 60_000
# Done runs of periodic jobs are only history; their keys are never queued again.
PERIODIC_KEEP = timedelta(hours=1)


def purge_handler(retention_days: int) -> Handler:
    """Delete finished jobs (done, failed, cancelled) and probe runs older than the
    retention, and done periodic runs after an hour. A purged job's key is free again."""

    def purge(session: Session, payload: dict[str, Any]) -> None:
        now = utcnow()
        cutoff = now - timedelta(days=retention_days)
        session.execute(
            delete(Job).where(Job.state.in_((DONE, FAILED, CANCELLED)), Job.finished_at < cutoff)
        )
        session.execute(
            delete(Job).where(
                Job.state == DONE,
                Job.key.like(PERIODIC_PREFIX + "%"),
                Job.finished_at < now - PERIODIC_KEEP,
            )
        )
        session.execute(delete(JobProbeRun).where(JobProbeRun.ran_at < cutoff))

    return purge


def probe(session: Session, payload: dict[str, Any]) -> Send | None:
    """Record this run in `job_probe_runs` (in the job's transaction, so a run that does not
    commit leaves no row). `hold_ms` first keeps the run busy that long as a send would be,
    outside any transaction, and records it afterwards."""
    hold = min(max(int(payload.get("hold_ms", 0)), 0), PROBE_HOLD_MAX_MS)
    run = current_run()
    if run is None:
        raise RuntimeError("jobs.probe runs only inside a worker")
    token = str(payload.get("token", ""))[:64]
    if not hold:
        _record_probe(session, token, run)
        return None
    return Send(
        perform=lambda: time.sleep(hold / 1000),
        record=lambda s, result, error: _record_probe(s, token, run),
    )


def _record_probe(session: Session, token: str, run: RunInfo) -> None:
    session.add(
        JobProbeRun(
            token=token,
            job_id=run.job_id,
            attempt=run.attempt,
            worker=run.worker,
            queued_at=run.run_at,
            ran_at=utcnow(),
        )
    )
