"""Decoding what senders post: JSON whose arrays and objects nest at most MAX_DEPTH deep.

Decoding alone would follow a body down to the interpreter's recursion limit and fail there
with RecursionError (a 500); and an event nested a few hundred levels deep, though decoded and
stored, could not be shown again (serializing it recurses deeper still). Real senders nest a
handful of levels.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_DEPTH = 100
TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep"

_decode = msgspec.json.Decoder().decode


class TooDeep(msgspec.DecodeError):
    """The body nests deeper than MAX_DEPTH (a msgspec.DecodeError, as a body that is not
    JSON at all is)."""


def may_be_too_deep(raw: bytes | bytearray | memoryview) -> bool:
    """False when `raw` cannot nest deeper than MAX_DEPTH: it opens fewer brackets than that.
    Cheap (two scans in C), so the usual body pays nothing more."""
    data = raw.tobytes() if isinstance(raw, memoryview) else raw
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH


def check_depth(value: Any) -> None:
    """Raise TooDeep if lists and dicts nest deeper than MAX_DEPTH in `value` (walked without
    recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_DEPTH:
            raise TooDeep(TOO_DEEP)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def decode(raw: bytes | bytearray | memoryview) -> Any:
    """The JSON value of `raw`. Raises msgspec.DecodeError for a body that is not JSON, and
    TooDeep for one nested deeper than MAX_DEPTH."""
    try:
        value = _decode(raw)
    except RecursionError as exc:
        raise TooDeep(TOO_DEEP) from exc
    if may_be_too_deep(raw):
        check_depth(value)
    return value
