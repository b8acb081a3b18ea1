"""Direct routes: `tocsin serve`'s protocol answers a few hot POST routes without an ASGI
task, and keeps everything HTTP promises between requests (keep-alive, pipelining, closing,
HTTP/1.0, chunked bodies, Expect, shutdown), handing anything else to the ASGI app.

Served by real uvicorn on loopback, talked to over raw sockets, so what is asserted is what a
sender sees on the wire."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.conftest import free_port, uvicorn_in_thread
from tocsin.web.protocol import DirectExchange, DirectRoutesProtocol

# How long a read waits for the server. Generous: on a busy CI machine the server's thread has
# been seen to stall for over 5 s (a log line with a rendered traceback, written only after the
# test had given up on its answer); an answer that never comes still fails the test.
WAIT = 30


class Route:
    """A direct route for the tests; what it does depends on the body."""

    max_body = 1000

    def __init__(self) -> None:
        self.seen: list[bytes | None] = []
        self.answered: list[bytes] = []

    def direct(self, exchange: DirectExchange) -> None:
        body = exchange.body
        self.seen.append(None if body is None else bytes(body))
        if body is None:
            exchange.respond(413, b"too large", content_type=b"text/plain")
        elif body == b"pass":
            exchange.pass_on()
        elif body == b"boom":
            raise RuntimeError("a bug in a direct route")
        elif body == b"pass, then boom":
            exchange.pass_on()
            raise RuntimeError("a bug after passing the request on")
        elif body.startswith(b"later"):
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, self._answer, exchange, bytes(body))
        else:
            self._answer(exchange, bytes(body))

    def _answer(self, exchange: DirectExchange, body: bytes) -> None:
        exchange.respond(200, b"direct:" + body, [(b"x-route", b"direct")], b"text/plain")
        self.answered.append(body)


class App:
    """An ASGI app with one direct route; the ASGI side says it answered."""

    def __init__(self) -> None:
        self.route = Route()
        self.direct_routes = {b"/direct": self.route}
        self.asgi_bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.asgi_bodies.append(body)
        payload = b"asgi:" + body
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(payload))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class Served:
    def __init__(self, app: App, server: uvicorn.Server, port: int) -> None:
        self.app = app
        self.server = server
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)


@pytest.fixture
def served() -> Iterator[Served]:
    app = App()
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=DirectRoutesProtocol,
        log_level="critical",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    with uvicorn_in_thread(config) as server:
        yield Served(app, server, port)


def post(body: bytes, path: bytes = b"/direct", extra: bytes = b"") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra
        + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


def read_response(
    conn: socket.socket, buffer: bytearray
) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response (status line, headers, body by Content-Length) from the connection."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get(b"content-length", b"0"))  # none on "100 Continue"
    while len(rest) < size:
        chunk = conn.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        rest += chunk
    buffer[:] = rest[size:]
    return status, headers, rest[:size]


def closed_by_server(conn: socket.socket) -> bool:
    conn.settimeout(WAIT)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_requests_are_answered_directly_with_uvicorns_headers(served: Served) -> None:
    with served.connect() as conn:
        buffer = bytearray()
        for n in range(3):
            conn.sendall(post(b"event-%d" % n))
            status, headers, body = read_response(conn, buffer)
            assert status == b"HTTP/1.1 200 OK"
            assert body == b"direct:event-%d" % n
            assert headers[b"x-route"] == b"direct"
            assert headers[b"content-type"] == b"text/plain"
            assert b"date" in headers and headers[b"server"] == b"uvicorn"
            assert b"connection" not in headers
    assert served.app.route.seen == [b"event-0", b"event-1", b"event-2"]
    assert served.app.asgi_bodies == []  # none of them went through ASGI


def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    with served.connect() as conn:
        # Three requests in one packet, the first answered 0.3 s later: the others wait
        # behind it in uvicorn's queue (which serves them through ASGI), and all three
        # answers come back in the order asked.
        conn.sendall(post(b"later-1") + post(b"second") + post(b"third"))
        buffer = bytearray()
        bodies = [read_response(conn, buffer)[2] for _ in range(3)]
        assert bodies == [b"direct:later-1", b"asgi:second", b"asgi:third"]
        conn.sendall(post(b"then-direct-again"))
        assert read_response(conn, buffer)[2] == b"direct:then-direct-again"


def test_connection_close_and_http_1_0_close_after_the_answer(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(post(b"bye", extra=b"Connection: close\r\n"))
        status, headers, body = read_response(conn, bytearray())
        assert body == b"direct:bye" and headers[b"connection"] == b"close"
        assert closed_by_server(conn)
    with served.connect() as conn:
        conn.sendall(b"POST /direct HTTP/1.0\r\nContent-Length: 3\r\n\r\nold")
        status, headers, body = read_response(conn, bytearray())
        assert status == b"HTTP/1.1 200 OK" and body == b"direct:old"
        assert closed_by_server(conn)


def test_a_chunked_body_arrives_whole_and_an_oversized_one_is_refused(served: Served) -> None:
    chunked = (
        b"POST /direct HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    with served.connect() as conn:
        buffer = bytearray()
        conn.sendall(chunked)
        assert read_response(conn, buffer)[2] == b"direct:hello world"
        conn.sendall(post(b"x" * 5000))
        status, _, body = read_response(conn, buffer)
        assert status == b"HTTP/1.1 413 Request Entity Too Large" and body == b"too large"
        conn.sendall(post(b"still-open"))  # the connection goes on
        assert read_response(conn, buffer)[2] == b"direct:still-open"
    assert served.app.route.seen == [b"hello world", None, b"still-open"]


def test_what_the_protocol_does_not_take_goes_to_the_asgi_app(served: Served) -> None:
    with served.connect() as conn:
        buffer = bytearray()
        conn.sendall(post(b"handed over", extra=b"Expect: 100-continue\r\n"))
        status, _, body = read_response(conn, buffer)
        if status.startswith(b"HTTP/1.1 100"):  # uvicorn's interim answer
            status, _, body = read_response(conn, buffer)
        assert body == b"asgi:handed over"
        conn.sendall(post(b"with a query", path=b"/direct?x=1"))
        assert read_response(conn, buffer)[2] == b"asgi:with a query"
        conn.sendall(b"PUT /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nput")
        assert read_response(conn, buffer)[2] == b"asgi:put"
        conn.sendall(post(b"pass"))  # the route hands it over, body and all
        assert read_response(conn, buffer)[2] == b"asgi:pass"
    assert served.app.asgi_bodies == [b"handed over", b"with a query", b"put", b"pass"]
    assert served.app.route.seen == [b"pass"]


def test_a_failing_route_answers_500_and_the_server_goes_on(served: Served) -> None:
    with served.connect() as conn:
        buffer = bytearray()
        conn.sendall(post(b"boom"))
        status, _, body = read_response(conn, buffer)
        assert status == b"HTTP/1.1 500 Internal Server Error"
        conn.sendall(post(b"after"))
        assert read_response(conn, buffer)[2] == b"direct:after"
        # Failing after passing the request on: the ASGI app's answer is the only one.
        conn.sendall(post(b"pass, then boom"))
        status, _, body = read_response(conn, buffer)
        assert status == b"HTTP/1.1 200 OK" and body == b"asgi:pass, then boom"
        conn.sendall(post(b"last"))
        assert read_response(conn, buffer)[2] == b"direct:last"
        assert not buffer  # nothing more came than the answers asked for


def test_a_sender_that_leaves_before_its_answer_harms_nothing(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(post(b"later-gone"))
    deadline = time.monotonic() + WAIT
    while b"later-gone" not in served.app.route.answered:  # answered into a closed connection
        assert time.monotonic() < deadline, "the late answer never ran"
        time.sleep(0.02)
    with served.connect() as conn:
        conn.sendall(post(b"next"))
        assert read_response(conn, bytearray())[2] == b"direct:next"


def test_shutdown_waits_for_a_pending_direct_answer(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(post(b"later-at-shutdown"))
        time.sleep(0.1)  # the request is in, its answer not yet
        served.server.should_exit = True
        status, headers, body = read_response(conn, bytearray())
        assert body == b"direct:later-at-shutdown"
        assert headers[b"connection"] == b"close"
        assert closed_by_server(conn)
