"""`tocsin serve` sends each response in one write: what a turn of the event loop writes on a
connection reaches the socket together, and nothing is lost when the connection closes."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from tests.conftest import free_port, uvicorn_in_thread
from tocsin.web.protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class Recorder:
    """The real transport's side: what it was asked to write, and when it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_turn_leave_as_one_and_close_sends_them_first() -> None:
    async def scenario() -> Recorder:
        real = Recorder()
        transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
        transport.write(b'{"status":"success"}')
        assert real.writes == []  # held until the end of this turn
        await asyncio.sleep(0)
        assert real.writes == [b'HTTP/1.1 202 Accepted\r\n\r\n{"status":"success"}']
        transport.write(b"last")
        transport.close()  # sends what was gathered, then closes
        assert real.writes[-1] == b"last" and real.closed
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
        return real

    # In a thread of its own: a browser test earlier in the run may leave a loop running here.
    results: list[Recorder] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(scenario())))
    runner.start()
    runner.join(timeout=30)
    assert len(results) == 1 and len(results[0].writes) == 2


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b'{"status":"success"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_uvicorn_serves_keep_alive_responses_through_it() -> None:
    port = free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_level="error"
    )
    with (
        uvicorn_in_thread(config),
        socket.create_connection(("127.0.0.1", port), timeout=30) as conn,
    ):
        for _ in range(3):  # keep-alive: three requests on one connection
            conn.sendall(b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            response = b""
            while not response.endswith(b'{"status":"success"}'):
                chunk = conn.recv(4096)
                assert chunk, f"connection closed after {response!r}"
                response += chunk
            assert response.startswith(b"HTTP/1.1 202 Accepted\r\n")
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := conn.recv(4096):
            response += chunk
        assert response.endswith(b'{"status":"success"}')  # sent before the close
