"""Server-sent events for the incident page: tells watchers when the incident changed.

It polls `updated_at` (bumped by every timeline entry) with a short session per poll, so it
works however many Tocsin processes there are. The page names the `updated_at` it was
rendered from (`since`): a change made between the render and the stream's start is told
at once, not lost. Each poll reads the incident only if the
watcher may still see it: one that becomes restricted, or from whose roles they are removed,
ends the stream with `gone`, as a deleted one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tocsin.deps import CurrentUser, DbSession
from tocsin.incidents import queries
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import Incident

router = APIRouter(include_in_schema=False)
STREAM_SECONDS = 300  # then the browser's EventSource reconnects by itself


def _since(text: str) -> datetime | None:
    """The page's `updated_at`, if it is a time with an offset."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


@router.get("/incidents/{ref}/events")
async def incident_events(
    ref: str, request: Request, db: DbSession, user: CurrentUser, since: str = ""
) -> StreamingResponse:
    incident = await run_in_threadpool(lambda: queries.get_incident(db, ref, viewer=user))
    incident_id, now = incident.id, incident.updated_at
    rendered = _since(since[:64])
    # What the page shows; without it (or from a newer page), what the incident is now.
    seen = rendered if rendered is not None and rendered < now else now
    # Built now, while the request's session has the user loaded; reused by every poll.
    visible = visible_filter(user)
    factory = request.app.state.sessionmaker
    interval = request.app.state.settings.sse_poll_seconds

    def read() -> datetime | None:
        with factory() as session:
            return session.scalar(
                select(Incident.updated_at).where(Incident.id == incident_id, visible)
            )

    async def stream() -> AsyncIterator[str]:
        nonlocal seen
        yield f"retry: 3000\nevent: hello\ndata: {seen.isoformat()}\n\n"
        if seen != now:  # changed since the page was rendered
            seen = now
            yield f"event: changed\ndata: {now.isoformat()}\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(interval)
            if await request.is_disconnected():
                return
            current = await run_in_threadpool(read)
            if current is None:  # deleted, or no longer visible to this watcher
                yield "event: gone\ndata: gone\n\n"
                return
            if current != seen:
                seen = current
                yield f"event: changed\ndata: {current.isoformat()}\n\n"
            else:
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
