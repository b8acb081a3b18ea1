"""One place that turns domain and HTTP errors into JSON (API) or pages (UI)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import DomainError, Unauthenticated
from tocsin.web.templating import render

log = structlog.get_logger("tocsin.http")

API_PREFIXES = ("/api/",)


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/metrics", "/healthz", "/readyz"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, status: int, message: str, **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"status": status, "message": message, **extra}}, status)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", {"status": status, "message": message}, status)


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
        return error_response(request, 422, message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        response = error_response(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("http.unhandled", path=request.url.path)
        return error_response(request, 500, "internal error; it has been logged")
