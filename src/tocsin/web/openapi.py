"""The error answers of the JSON API, as its OpenAPI document declares them.

Every error under `/api/v1` has one shape, `{"error": {"status", "message", "field"?,
"details"?}}` (web/errors.py), and the conventions of docs/api.md say when each status is
answered. `declare_errors` writes those conventions into each operation of the document:

- 401 everywhere: every operation needs credentials;
- 503 everywhere: every operation reads the database, and answers 503 with `Retry-After`
  while it cannot reach it;
- 422 where the operation takes parameters or a body (invalid fields), in place of FastAPI's
  default declaration, whose shape is not what Tocsin sends;
- 400 where it takes a body (one that is not JSON, or nests too deeply to read);
- 404 where its path names something (an unknown id or reference);
- 403 and 409 where it changes something (a role that is not enough, a browser session
  without its CSRF token; duplicates and invalid transitions).

A route declares any other error it answers itself, with `responses=errors(...)`: a read that
only some roles may make (403), a write whose body names something that must exist (404), a
sender limit (429).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

API_PREFIX = "/api/v1/"
SCHEMAS_REF = "#/components/schemas/"
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
HTTP_METHODS = frozenset({"get", "head", "options", "trace"}) | UNSAFE_METHODS

DESCRIPTIONS = {
    400: "The body is not JSON, or nests too deeply to read",
    401: "No valid credentials: send `Authorization: Bearer tcs_…`",
    403: "Your role is not enough (or a browser session sent no CSRF token)",
    404: "Something the request names does not exist (or is not visible to you)",
    409: "Conflicts with existing data: a duplicate, or a transition the state does not allow",
    422: "Invalid fields: `field` names the first, `details` lists each when several",
    429: "Too many requests: retry after `Retry-After` seconds",
    503: "Tocsin cannot reach its database right now: retry after `Retry-After` seconds",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
_HEADERS = {401: _WWW_AUTHENTICATE, 429: _RETRY_AFTER, 503: _RETRY_AFTER}


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    status: int
    message: str
    field: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: ErrorBody


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these error statuses beyond the conventions."""
    return {code: {"model": ErrorOut, "description": DESCRIPTIONS[code]} for code in codes}


def _response(code: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": f"{SCHEMAS_REF}ErrorOut"}}},
    }
    if code in _HEADERS:
        response["headers"] = _HEADERS[code]
    return response


def _conventional(method: str, operation: dict[str, Any]) -> set[int]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    codes = {401, 503}
    if parameters or has_body:
        codes.add(422)
    if has_body:
        codes.add(400)
    if any(p.get("in") == "path" for p in parameters):
        codes.add(404)
    if method in UNSAFE_METHODS:
        codes |= {403, 409}
    return codes


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the conventional error answers of every API operation in `document` (an
    OpenAPI document as FastAPI generates it), in place; returns it."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for path, item in document.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in sorted(_conventional(method, operation)):
                key = str(code)
                if code == 422 or key not in responses:
                    responses[key] = _response(code)
            operation["responses"] = dict(sorted(responses.items()))
    # The error shape, and no longer FastAPI's validation error shape that nothing sends.
    definition = ErrorOut.model_json_schema(ref_template=SCHEMAS_REF + "{model}")
    schemas.update(definition.pop("$defs", {}))
    schemas["ErrorOut"] = definition
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"{SCHEMAS_REF}{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)
    return document


def declared_methods(document: dict[str, Any], path: str) -> set[str]:
    """The methods `document` declares for the resource at `path` (upper case): those of the
    path templates that match it with the fewest parameters, as routing prefers
    `/layers/order` to `/layers/{layer_id}`."""
    best: set[str] = set()
    fewest: int | None = None
    for template, item in document.get("paths", {}).items():
        if not _template_pattern(template).fullmatch(path):
            continue
        parameters = template.count("{")
        methods = {method.upper() for method in item if method in HTTP_METHODS}
        if fewest is None or parameters < fewest:
            best, fewest = methods, parameters
        elif parameters == fewest:
            best |= methods
    return best


@lru_cache(maxsize=2048)
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))
