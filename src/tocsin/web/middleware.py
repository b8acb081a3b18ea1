"""The HTTP middleware every request goes through: a plain ASGI middleware (Starlette's
documented pattern), added with `app.add_middleware`.

For each HTTP request it binds a request id (echoed in `X-Request-ID`) to the log context,
adds the security headers, counts the request and its latency by route template for
Prometheus, and writes one access-log line, except for the paths in `quiet` (ingestion, where
thousands of lines a second would drown the rest and the stored events are the record).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import structlog

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access = structlog.get_logger("tocsin.http")

# Pages get a strict policy: only our own scripts, styles and images; no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
_PAGES = ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"))
# Swagger UI needs its own inline set-up, so the API docs skip the page policy.
_NO_PAGE_POLICY = "/api/v1/docs"


class RequestMetrics(Protocol):
    """Counts what the middleware saw (observability.metrics.Metrics)."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None: ...


class HttpMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: RequestMetrics, quiet: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.quiet = quiet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        quiet = path in self.quiet
        request_id = ""
        if not quiet:
            request_id = _request_id(scope)
            structlog.contextvars.bind_contextvars(request_id=request_id)
        extra = list(_ALWAYS)
        if not path.startswith(_NO_PAGE_POLICY):
            extra.extend(_PAGES)
        if request_id:
            extra.append((b"x-request-id", request_id.encode()))
        status = 500
        start = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((n, v) for n, v in extra if n not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            # Label by the route template (/api/v1/incidents/{ref}), never the raw path.
            # (Raw ASGI routes of a fixed path, the quiet ones, carry no route object.)
            name = getattr(route, "path", None) or (path if quiet else "unmatched")
            self.metrics.observe(scope["method"], name, status, seconds)
            if not quiet:
                structlog.contextvars.unbind_contextvars("request_id")
                access.info(
                    "http.request",
                    method=scope["method"],
                    path=path,
                    status=status,
                    ms=round(seconds * 1000, 1),
                    request_id=request_id,
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            if text.isascii() and text.isprintable():
                return text
    return uuid.uuid4().hex[:16]


class Intercept:
    """Paths under `prefix` go first to `handler`, which answers and returns True, or returns
    False without sending anything and the application takes the request (status pages,
    served from memory: statuspages/public.py)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        handler: Callable[[Scope, Receive, Send], Awaitable[bool]],
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(self.prefix)
            and await self.handler(scope, receive, send)
        ):
            return
        await self.app(scope, receive, send)
