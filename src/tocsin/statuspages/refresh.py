"""Asking for a page to be rendered again, once, after the change that needs it commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.jobs.models import QUEUED, Job
from tocsin.jobs.queue import enqueue
from tocsin.statuspages.models import StatusPage

RENDER_JOB = "statuspages.render"


def page_changed(session: Session, page: StatusPage) -> None:
    """Record that what `page` shows has changed and queue its render in this transaction.

    Coalesced: several changes queue one render (a render job already waiting renders the
    latest state when it runs), and a render that finds nothing new since the last one
    writes nothing."""
    page.content_version = (page.content_version or 0) + 1
    page.updated_at = utcnow()
    session.flush()
    waiting = session.scalar(
        select(Job.id)
        .where(
            Job.kind == RENDER_JOB,
            Job.state == QUEUED,
            Job.payload["page_id"].as_integer() == page.id,
        )
        .limit(1)
    )
    if waiting is None:
        enqueue(session, RENDER_JOB, {"page_id": page.id})


def pages_changed(session: Session, page_ids: set[int]) -> None:
    for page_id in sorted(page_ids):
        page = session.get(StatusPage, page_id)
        if page is not None:
            page_changed(session, page)
