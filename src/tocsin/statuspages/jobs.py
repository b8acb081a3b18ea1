"""The status pages' job handlers, registered in `bootstrap.build_registry`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.jobs.registry import JobKind, PeriodicJob
from tocsin.statuspages import maintenance
from tocsin.statuspages.export import export_hook
from tocsin.statuspages.refresh import RENDER_JOB
from tocsin.statuspages.render import EXPORT_JOB, RERENDER_JOB, render_page, rerender_all

# Renders also run every hour (uptime bars move with the days, in every page's time zone).
RERENDER_EVERY = timedelta(hours=1)


def job_kinds(settings: Settings) -> list[JobKind]:
    def render(session: Session, payload: dict[str, Any]) -> None:
        render_page(
            session, int(payload["page_id"]), settings=settings, force=bool(payload.get("force"))
        )

    def rerender(session: Session, payload: dict[str, Any]) -> None:
        rerender_all(session)

    def start(session: Session, payload: dict[str, Any]) -> None:
        maintenance.start_due(session, int(payload["maintenance_id"]))

    def end(session: Session, payload: dict[str, Any]) -> None:
        maintenance.end_due(session, int(payload["maintenance_id"]))

    def remind(session: Session, payload: dict[str, Any]) -> None:
        maintenance.remind(session, int(payload["maintenance_id"]))

    return [
        JobKind(RENDER_JOB, render, max_attempts=5, backoff_base=1.0, timeout_seconds=120),
        JobKind(RERENDER_JOB, rerender, max_attempts=1, timeout_seconds=60),
        JobKind(maintenance.START_JOB, start, max_attempts=5, backoff_base=2.0),
        JobKind(maintenance.END_JOB, end, max_attempts=5, backoff_base=2.0),
        JobKind(maintenance.REMIND_JOB, remind, max_attempts=3, backoff_base=2.0),
        JobKind(
            EXPORT_JOB,
            export_hook(settings),
            max_attempts=5,
            backoff_base=5.0,
            timeout_seconds=int(settings.statuspage_export_timeout_seconds) + 60,
        ),
    ]


def periodic() -> list[PeriodicJob]:
    return [PeriodicJob(RERENDER_JOB, every=RERENDER_EVERY)]
