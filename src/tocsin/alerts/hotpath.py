"""`POST /v2/enqueue`: PagerDuty Events API v2, the route senders hit hardest.

A plain ASGI endpoint, mounted as a route of the application (a Starlette `Route`), so that it
skips FastAPI's per-request dependency injection and validation: msgspec decodes the body,
the PagerDuty rules validate it, the key comes from the in-memory cache, and the engine's
group commit makes it durable before the 202 is sent. Metrics are counted by the middleware;
requests are not access-logged (at thousands per second that log would drown the rest; the
stored events are the record).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from starlette.concurrency import run_in_threadpool

from tocsin.alerts.inbox import Overloaded
from tocsin.alerts.intake import Intake, KeyInfo, RateLimited
from tocsin.alerts.pagerduty import MAX_BODY, EventInvalid, ParsedEvent, parse_body
from tocsin.db import utcnow

if TYPE_CHECKING:
    import asyncio

log = structlog.get_logger("tocsin.ingest")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_encode = msgspec.json.Encoder().encode


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The whole request body, refusing more than `limit` bytes without reading it all."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyTooLarge("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"event is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def pd_error(message: str, errors: list[str], status: int = 400) -> dict[str, Any]:
    """PagerDuty's error body."""
    return {
        "status": "invalid event" if status == 400 else "error",
        "message": message,
        "errors": errors,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON response decided without awaiting anything."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(cls, status: int, body: Any, *headers: tuple[bytes, bytes]) -> Answer:
        return cls(status, _encode(body), headers)

    async def send(self, send: Send) -> int:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})
        return self.status


class _Invalid(Exception):
    """The body is not an event: `answer` says why; `data` is what was decoded (if anything)."""

    def __init__(self, answer: Answer, data: Any = None, errors: list[str] | None = None):
        self.answer = answer
        self.data = data
        self.errors = errors


def _parse(raw: bytes | bytearray) -> ParsedEvent:
    try:
        return parse_body(raw)
    except msgspec.DecodeError as exc:
        body = pd_error("Event object format is unrecognized", ["JSON parse error"])
        raise _Invalid(Answer.json(400, body)) from exc
    except EventInvalid as exc:
        answer = Answer.json(400, pd_error(exc.message, exc.errors))
        raise _Invalid(answer, msgspec.json.decode(raw), exc.errors) from exc


def _too_large(limit: int) -> Answer:
    body = pd_error("Event too large", [f"event is larger than {limit} bytes"])
    return Answer.json(400, body)


def _unavailable(exc: BaseException) -> Answer:
    log.error("ingest.database_unavailable", error=str(exc))
    body = pd_error("Tocsin cannot store events right now; retry", ["database unavailable"], 503)
    return Answer.json(503, body, (b"retry-after", b"5"))


def _not_taken(exc: BaseException) -> Answer:
    """The answer when the writer did not take or could not store the event."""
    if isinstance(exc, RateLimited):
        body = pd_error("Too many events for this routing key; retry later", [str(exc)], 429)
        return Answer.json(429, body, (b"retry-after", str(exc.retry_after).encode()))
    if isinstance(exc, Overloaded):
        body = pd_error("Tocsin is overloaded; retry later", [str(exc)], 429)
        return Answer.json(429, body, (b"retry-after", b"2"))
    return _unavailable(exc)


def _accepted(dedup_key: str | None) -> Answer:
    body = {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    return Answer.json(202, body)


class EnqueueEndpoint:
    """The PagerDuty Events API v2 trigger/acknowledge/resolve endpoint (an ASGI app)."""

    max_body = MAX_BODY

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def _accept(
        self, event: ParsedEvent, raw: bytes, info: KeyInfo | None
    ) -> Answer | asyncio.Future[None]:
        """The event of a known key (`info`, None if it names no integration): an answer
        now, or the inbox's future for its rows (a 202 once it is done)."""
        if info is None:
            return Answer.json(400, pd_error("Event object is invalid", ["Invalid routing key"]))
        if info.type != "pagerduty":
            error = f"this routing key belongs to a {info.type} integration, not a PagerDuty one"
            return Answer.json(400, pd_error("Event object is invalid", [error]))
        key = event.routing_key
        if event.action == "trigger" and not event.dedup_key:
            event.dedup_key = uuid.uuid4().hex  # PagerDuty generates one and returns it
        event.routing_key = ""  # a secret: stored nowhere in clear
        text = raw.decode("utf-8", "replace").replace(key, "<routing key>")
        try:
            self.intake.admit(info)
            rows = self.intake.rows(info, [(event, text)], received_at=utcnow())
            return self.intake.inbox.submit(rows)
        except Exception as exc:  # rate-limited, overloaded, or a bug: never a 2xx
            return _not_taken(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._handle(scope, receive)
        await answer.send(send)

    async def _handle(self, scope: Scope, receive: Receive) -> Answer:
        if scope["method"] != "POST":
            body = pd_error("Only POST is allowed here", ["method not allowed"], 405)
            return Answer.json(405, body, (b"allow", b"POST"))
        try:
            raw = await read_body(receive, self.max_body)
        except BodyTooLarge as exc:
            return Answer.json(400, pd_error("Event too large", [str(exc)]))
        try:
            event = _parse(raw)
        except _Invalid as exc:
            if exc.errors is not None:
                await self._keep_rejection(exc.data, raw, exc.errors)
            return exc.answer
        key = event.routing_key
        known, info = self.intake.cached(key)
        if not known:
            try:
                info = await run_in_threadpool(self.intake.lookup, key)
            except Exception as exc:
                return _unavailable(exc)
        taken = self._accept(event, raw, info)
        if isinstance(taken, Answer):
            return taken
        try:
            await taken
        except Exception as exc:
            return _not_taken(exc)
        return _accepted(event.dedup_key)

    async def _keep_rejection(self, data: Any, raw: bytes, errors: list[str]) -> None:
        """A refused event with a valid routing key is kept for its integration's users."""
        key = data.get("routing_key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            return
        known, info = self.intake.cached(key)
        if not known:
            try:
                info = await run_in_threadpool(self.intake.lookup, key)
            except Exception:
                return
        if info is not None and info.type == "pagerduty":
            await self.intake.reject(info, raw.replace(key.encode(), b"<routing key>"), errors)
