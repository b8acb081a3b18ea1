"""`POST /v2/enqueue` as a raw ASGI endpoint.

This is the route senders hit hardest, so it skips FastAPI's per-request machinery (routing,
dependency injection, middleware): msgspec decodes the body, the PagerDuty rules validate it,
the key comes from the in-memory cache, and the EventWriter's group commit makes it durable
before the 202 is sent. Metrics are still counted; requests are not access-logged (at thousands
per second that log would drown the rest; the stored events are the record).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
import structlog
from starlette.concurrency import run_in_threadpool

from tocsin.alerts.intake import Intake, RateLimited
from tocsin.alerts.pagerduty import MAX_BODY, EventInvalid, parse_event
from tocsin.alerts.writing import Overloaded
from tocsin.db import utcnow

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


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = _encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class EnqueueEndpoint:
    """The PagerDuty Events API v2 trigger/acknowledge/resolve endpoint."""

    def __init__(self, intake: Intake, count: Callable[[str, int], None]) -> None:
        self.intake = intake
        self.count = count  # (route, status) → metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = await self._handle(scope, receive, send)
        self.count("/v2/enqueue", status)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> int:
        if scope["method"] != "POST":
            body = pd_error("Only POST is allowed here", ["method not allowed"], 405)
            await send_json(send, 405, body, [(b"allow", b"POST")])
            return 405
        try:
            raw = await read_body(receive)
            data = msgspec.json.decode(raw)
            event = parse_event(data)
        except BodyTooLarge as exc:
            await send_json(send, 400, pd_error("Event too large", [str(exc)]))
            return 400
        except msgspec.DecodeError:
            body = pd_error("Event object format is unrecognized", ["JSON parse error"])
            await send_json(send, 400, body)
            return 400
        except EventInvalid as exc:
            await self._keep_rejection(data, raw, exc.errors)
            await send_json(send, 400, pd_error(exc.message, exc.errors))
            return 400
        key = event.routing_key
        known, info = self.intake.cached(key)
        if not known:
            try:
                info = await run_in_threadpool(self.intake.lookup, key)
            except Exception as exc:
                return await self._unavailable(send, exc)
        if info is None:
            await send_json(send, 400, pd_error("Event object is invalid", ["Invalid routing key"]))
            return 400
        if info.type != "pagerduty":
            body = pd_error(
                "Event object is invalid",
                [f"this routing key belongs to a {info.type} integration, not a PagerDuty one"],
            )
            await send_json(send, 400, body)
            return 400
        if event.action == "trigger" and not event.dedup_key:
            event.dedup_key = uuid.uuid4().hex  # PagerDuty generates one and returns it
        event.routing_key = ""  # a secret: stored nowhere in clear
        text = raw.decode("utf-8", "replace").replace(key, "<routing key>")
        try:
            self.intake.admit(info)
            rows = self.intake.rows(info, [(event, text)], received_at=utcnow())
            await self.intake.writer.write(rows)
        except RateLimited as exc:
            body = pd_error("Too many events for this routing key; retry later", [str(exc)], 429)
            await send_json(send, 429, body, [(b"retry-after", str(exc.retry_after).encode())])
            return 429
        except Overloaded as exc:
            body = pd_error("Tocsin is overloaded; retry later", [str(exc)], 429)
            await send_json(send, 429, body, [(b"retry-after", b"2")])
            return 429
        except Exception as exc:
            return await self._unavailable(send, exc)
        body = {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}
        await send_json(send, 202, body)
        return 202

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

    async def _unavailable(self, send: Send, exc: Exception) -> int:
        log.error("ingest.database_unavailable", error=str(exc))
        body = pd_error(
            "Tocsin cannot store events right now; retry", ["database unavailable"], 503
        )
        await send_json(send, 503, body, [(b"retry-after", b"5")])
        return 503
