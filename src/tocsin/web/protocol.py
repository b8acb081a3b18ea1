"""uvicorn's HTTP protocol, with each response sent in one write, and direct routes.

uvicorn writes a response's head when the app sends `http.response.start` and its body when
the app sends `http.response.body`: two `send` system calls, and on a virtual machine often
two wake-ups of the client's thread, for every response. At thousands of events a second
those wake-ups cost the ingestion endpoint more than its own work (docs/benchmarks.md).

`CoalescingHttpToolsProtocol` gives uvicorn a transport that gathers what one turn of the
event loop writes on a connection and hands it to the real transport at the end of that turn,
as one write. Nothing is held longer than the turn, and closing the connection sends what was
gathered first. Everything else goes to the real transport unchanged.

`DirectRoutesProtocol` (what `tocsin serve` runs) also serves a few hot routes directly from
the protocol: a POST to a path the app lists in `direct_routes` goes to that route's handler
as soon as its body is complete, without the ASGI task, scope, receive and send of a request.
The handler answers at once or later (the ingestion endpoint answers once its event is
committed), or passes the request on to the ASGI app when it cannot decide without awaiting.
Everything uvicorn's protocol does between requests stays as it is: keep-alive and its
timeout, pipelined requests (queued behind a direct one), `Connection: close`, HTTP/1.0, and
graceful shutdown (a connection waiting for a direct answer closes after it). Requests with
`Expect: 100-continue`, a query string or an upgrade take the ASGI path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

import structlog
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

log = structlog.get_logger("tocsin.web")


class CoalescingTransport:
    """A transport that passes on, at the end of the loop's turn, what was written during it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._gathered: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._gathered:
            self._loop.call_soon(self._flush)
        self._gathered.append(bytes(data))

    def write_now(self, data: bytes) -> None:
        """Write a whole response at once (after anything gathered before it)."""
        self._flush()
        if not self._transport.is_closing():
            self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        if self._gathered:
            data = b"".join(self._gathered)
            self._gathered.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._gathered.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(d) for d in self._gathered)

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, is_closing, pause_reading, resume_reading, set_protocol, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a CoalescingTransport (`uvicorn.run(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)  # type: ignore[arg-type]


class DirectRoute(Protocol):
    """A route served from the protocol (see the module's docstring)."""

    max_body: int

    def direct(self, exchange: DirectExchange) -> None: ...


def direct_routes(app: Any) -> dict[bytes, DirectRoute]:
    """The `direct_routes` of the app under uvicorn's middleware (ProxyHeadersMiddleware...)."""
    for _ in range(8):
        routes = getattr(app, "direct_routes", None)
        if routes is not None:
            return routes  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            break
    return {}


_joined: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")


def _default_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default headers (date, server) as written: joined once per list (uvicorn
    makes a new one each second, for the date)."""
    global _joined
    if _joined[0] is not headers:
        _joined = (headers, b"".join(name + b": " + value + b"\r\n" for name, value in headers))
    return _joined[1]


class _NothingWaits:
    """A DirectExchange's `message_event`: uvicorn sets it, nothing waits on it."""

    def set(self) -> None:
        pass


_NOTHING_WAITS = _NothingWaits()


class DirectExchange:
    """One request on a direct route, from its headers to its response.

    It stands where uvicorn keeps a request's RequestResponseCycle (`protocol.cycle`), with
    the attributes the protocol reads there. `body` is None once the body outgrew the route's
    `max_body` (the rest is discarded as it arrives).
    """

    __slots__ = (
        "protocol",
        "route",
        "scope",
        "body",
        "keep_alive",
        "response_complete",
        "disconnected",
        "more_body",
        "message_event",
    )

    def __init__(
        self, protocol: DirectRoutesProtocol, route: DirectRoute, keep_alive: bool
    ) -> None:
        self.protocol = protocol
        self.route = route
        self.scope = protocol.scope
        self.body: bytes | bytearray | None = b""
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.more_body = True
        self.message_event = _NOTHING_WAITS  # uvicorn sets it when the connection is lost

    def add(self, chunk: bytes) -> None:
        body = self.body
        if body is None:
            return
        if len(body) + len(chunk) > self.route.max_body:
            self.body = None
        elif not body:
            self.body = chunk  # the usual case: the whole body in one piece
        elif isinstance(body, bytearray):
            body += chunk
        else:
            self.body = bytearray(body) + chunk

    def complete(self) -> None:
        self.more_body = False
        try:
            self.route.direct(self)
        except Exception:
            log.exception("web.direct_route_failed", path=self.scope.get("path"))
            if not self.response_complete:
                self.respond(500, b"Internal Server Error", (), b"text/plain; charset=utf-8")

    def respond(
        self,
        status: int,
        body: bytes,
        headers: Iterable[tuple[bytes, bytes]] = (),
        content_type: bytes = b"application/json",
    ) -> None:
        """Send the whole response in one write (nothing if the client has gone)."""
        if self.response_complete:
            return
        self.response_complete = True
        protocol = self.protocol
        transport = protocol.transport
        if not self.disconnected and not transport.is_closing():
            parts = [STATUS_LINE[status], _default_headers(protocol.server_state.default_headers)]
            for name, value in headers:
                parts += [name, b": ", value, b"\r\n"]
            parts += [b"content-type: ", content_type, b"\r\n"]
            parts += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
            if not self.keep_alive:
                parts.append(b"connection: close\r\n")
            parts += [b"\r\n", body]
            transport.write_now(b"".join(parts))
            if not self.keep_alive:
                transport.close()
        protocol.on_response_complete()

    def pass_on(self) -> None:
        """Hand the request, body and all, to the ASGI app (only before responding)."""
        protocol = self.protocol
        cycle = RequestResponseCycle(
            scope=self.scope,
            transport=protocol.transport,  # type: ignore[arg-type]
            flow=protocol.flow,
            logger=protocol.logger,
            access_logger=protocol.access_logger,
            access_log=protocol.access_log,
            default_headers=protocol.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=self.keep_alive,
            on_response=protocol.on_response_complete,
        )
        cycle.body = bytearray(self.body or b"")
        cycle.more_body = self.more_body
        cycle.disconnected = self.disconnected
        cycle.message_event.set()
        self.response_complete = True  # the ASGI app answers it now, and nobody else
        if protocol.cycle is self:
            protocol.cycle = cycle
        protocol._start_asgi_task(cycle, protocol.app)


class DirectRoutesProtocol(CoalescingHttpToolsProtocol):
    """CoalescingHttpToolsProtocol, serving the app's `direct_routes` from the protocol."""

    transport: CoalescingTransport  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.direct = direct_routes(self.app)

    def on_headers_complete(self) -> None:
        route = self.direct.get(self.url) if self.direct else None
        if (
            route is not None
            and self.parser.get_method() == b"POST"
            and not self.expect_100_continue
            and self.limit_concurrency is None
            and (self.cycle is None or self.cycle.response_complete)
            and not self.parser.should_upgrade()
        ):
            http_version = self.parser.get_http_version()
            scope = self.scope
            scope["method"] = "POST"
            if http_version != "1.1":
                scope["http_version"] = http_version
            scope["path"] = self.root_path + self.url.decode("ascii")
            scope["raw_path"] = self.root_path.encode("ascii") + self.url
            scope["query_string"] = b""
            keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
            self.cycle = DirectExchange(self, route, keep_alive)  # type: ignore[assignment]
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is DirectExchange:
            cycle.add(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is DirectExchange:
            cycle.complete()
            return
        super().on_message_complete()
