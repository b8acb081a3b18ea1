"""One place that turns domain and HTTP errors into JSON (API) or pages (UI)."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import DomainError, Unauthenticated
from tocsin.web.openapi import declared_methods
from tocsin.web.templating import render

log = structlog.get_logger("tocsin.http")

API_PREFIXES = ("/api/",)
# What chat services call (chat/receive.py): machines, answered in JSON, never sent to the
# sign-in page (a chat service would read that redirect as a success).
CHAT_SERVICE_PATH = re.compile(r"^/chat/\d+/")
UNREACHABLE = "Tocsin cannot reach its database right now. Try again in a moment."
RETRY_AFTER_SECONDS = 5
# SQLite's primary result codes for a database file that cannot be opened or read
# (https://sqlite.org/rescode.html; sqlite3 gives the extended code, its low byte is these).
_SQLITE_FILE_UNUSABLE = {10, 14, 26}  # SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_NOTADB
# PostgreSQL's SQLSTATEs for a server that is shutting down, crashed or still starting up;
# class 08 (connection exception) counts as well.
_PG_SERVER_GONE = {"57P01", "57P02", "57P03"}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/metrics", "/healthz", "/readyz"):
        return True
    if CHAT_SERVICE_PATH.match(path):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, status: int, message: str, **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"status": status, "message": message, **extra}}, status)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", {"status": status, "message": message}, status)


def database_unreachable(exc: DBAPIError) -> bool:
    """The database cannot be reached (connection refused or lost, server going down, file
    that cannot be opened), as opposed to a statement that failed: only the first is worth
    retrying unchanged."""
    if exc.connection_invalidated:  # SQLAlchemy saw the connection break
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _PG_SERVER_GONE
    code = getattr(exc.orig, "sqlite_errorcode", None)  # sqlite3
    if code is not None:
        return code & 0xFF in _SQLITE_FILE_UNUSABLE
    # The driver could not connect at all (no statement yet, no SQLSTATE from a server):
    # refused, timed out, unknown host, authentication.
    return isinstance(exc, OperationalError | InterfaceError) and exc.statement is None


def allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """The methods of the resource a 405 answers for, for its `Allow` header: those the API's
    OpenAPI document declares for the path, with those the framework named.

    (FastAPI makes one route per method, `GET /teams` and `POST /teams`, and a 405 names only
    the methods of the first route whose path matched.)"""
    named = (exc.headers or {}).get("Allow", "")
    methods = {m.strip() for m in named.split(",") if m.strip()}
    methods |= declared_methods(request.app.openapi(), request.url.path)
    return ", ".join(sorted(methods))


def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("http.unhandled", path=request.url.path, exc_info=exc)
    return error_response(request, 500, "internal error; it has been logged")


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        details.append({"field": ".".join(loc), "message": err.get("msg", "invalid")})
    first = details[0] if details else {"field": "", "message": "invalid request"}
    text = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return text, details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        extra = {"field": exc.field} if exc.field else {}
        if isinstance(exc, Unauthenticated) and wants_json(request):
            response = error_response(request, 401, exc.message)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return error_response(request, exc.status_code, exc.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        # A body that is not JSON at all is a 400; a JSON body with wrong fields is a 422.
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, 400, "request body is not valid JSON")
        message, details = _validation_message(errors)
        first = details[0]["field"] if details else ""
        extra = {"field": first} if first else {}
        return error_response(request, 422, message, **extra, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        response = error_response(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request, exc)
        return response

    # Ids and numbers beyond what the database column holds: the request is wrong, not the
    # server. (SQLite raises OverflowError, PostgreSQL a DataError; either way it rolled back.)
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        return error_response(request, 422, "a number in the request is out of range")

    # A uniqueness race or a case the services did not foresee: still the caller's conflict.
    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        log.warning("http.integrity_error", path=request.url.path, error=str(exc.orig))
        return error_response(request, 409, "this conflicts with existing data (a duplicate?)")

    # A database that cannot be reached is a 503 to retry, logged as one line: during an
    # outage every request fails the same way, and a traceback each would say nothing more.
    # Other database errors are the server's own 500s.
    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if not database_unreachable(exc):
            return _internal_error(request, exc)
        reason = next(iter(str(exc.orig).strip().splitlines()), "")[:300]
        log.warning("http.database_unreachable", path=request.url.path, error=reason)
        response = error_response(request, 503, UNREACHABLE)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return _internal_error(request, exc)
