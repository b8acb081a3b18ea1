"""`tocsin serve` with one more route, GET /boom, that fails deep inside with a chained
exception, a long message and big local variables. Run as a program by test_logging.py:
`python -m tests.observability.raising_server serve --port N ...` (the `tocsin` arguments)."""

from __future__ import annotations

from typing import Any

import tocsin.app
import tocsin.cli.local
from tocsin.cli.main import main

_create_app = tocsin.app.create_app


def _descend(depth: int, ballast: list[str]) -> None:
    if depth == 0:
        raise ValueError("the bottom " + "x" * 20_000)
    _descend(depth - 1, ballast)


def boom() -> None:
    ballast = [f"item {n}" * 20 for n in range(2000)]
    try:
        _descend(300, ballast)
    except ValueError as exc:
        raise RuntimeError("boom") from exc


def create_app(settings: Any, **kwargs: Any) -> Any:
    app = _create_app(settings, **kwargs)
    app.add_api_route("/boom", boom)
    return app


if __name__ == "__main__":
    # What `tocsin serve` builds, plus /boom.
    tocsin.app.create_app = create_app
    tocsin.cli.local.create_app = create_app
    main()
