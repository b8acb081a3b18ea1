"""The peer for the status page benchmark: a minimal raw ASGI app that answers every request
with one fixed body, served by the same server stack as Tocsin (uvicorn, httptools, uvloop).

bench/statuspage.py starts it with BENCH_FIXED_BODY pointing at a file holding the bytes
Tocsin served for the page being measured (so both send the same number of bytes) and
BENCH_FIXED_TYPE as its content type.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]


def make_app(body: bytes, content_type: str) -> Callable[..., Awaitable[None]]:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    answer = {"type": "http.response.body", "body": body}

    async def app(
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await send(start)
        await send(answer)

    return app


def app_from_environment() -> Callable[..., Awaitable[None]]:
    """For `uvicorn --factory bench.fixed_app:app_from_environment`."""
    body = Path(os.environ["BENCH_FIXED_BODY"]).read_bytes()
    return make_app(body, os.environ.get("BENCH_FIXED_TYPE", "text/html; charset=utf-8"))
