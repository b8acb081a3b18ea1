"""The Opsgenie Alert API under `/opsgenie`, so Alertmanager's `opsgenie_configs`
(`api_url: https://tocsin.example.com/opsgenie`, `update_alerts` included) and the
opsgenie-sdk client work unchanged.

Like Opsgenie, a request that changes something is answered 202 with a requestId once it is
stored, and `GET /opsgenie/v2/alerts/requests/{id}` tells what became of it. Creates, closes,
acknowledgements go through the event pipeline (applied right after); updates of an alert's
message, description and priority and notes are applied before the 202 (sender_updates.py).
Reads (an alert, a search, a count) answer from the database.

Every path here authenticates first, as Opsgenie does: a missing, unknown or disabled key is
401 "Could not authenticate", the key of another type of integration 403 (code 40301); and
every answer, errors included, is an Opsgenie-shaped JSON object (the SDK parses every body),
including 404 for an unknown path and 405 for a method a path does not take.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from tocsin.alerts import bodies, opsgenie, opsgenie_alerts, sender_updates
from tocsin.alerts.hotpath import BodyTooLarge, read_body
from tocsin.alerts.ingest import Refused, _intake, store
from tocsin.alerts.intake import KeyInfo
from tocsin.alerts.models import Event, IntegrationType, Outcome
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.db import transaction

log = structlog.get_logger("tocsin.ingest")
router = APIRouter(prefix="/opsgenie", include_in_schema=False)
SUCCESS = {
    Outcome.created_alert.value,
    Outcome.deduplicated.value,
    Outcome.acknowledged.value,
    Outcome.unacknowledged.value,
    Outcome.resolved.value,
    Outcome.updated.value,
}
# How long an update by alias waits for the events stored before it for that alias (the
# create Alertmanager sends just before) to be applied; past that it answers 503 (retried).
SETTLE_SECONDS = 5.0
_POLL = 0.05
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Call:
    """One request's id and clock, for Opsgenie's `requestId` and `took`."""

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.started = time.perf_counter()

    @property
    def took(self) -> float:
        return round(time.perf_counter() - self.started, 3)

    def error(
        self,
        status: int,
        message: str,
        errors: dict[str, str] | None = None,
        *,
        code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = opsgenie.error_body(message, self.took, self.id, errors, code=code)
        if status in (429, 503) and not headers:
            headers = {"Retry-After": "5"}  # Alertmanager and the SDK retry these
        return JSONResponse(body, status, headers=headers)

    def ok(self, body: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse({**body, "took": self.took, "requestId": self.id}, status)


async def _integration(request: Request, call: _Call) -> KeyInfo:
    key = opsgenie.api_key(request.headers.get("authorization"))
    if key is None:
        raise Refused(call.error(401, opsgenie.UNAUTHENTICATED))
    intake = _intake(request)
    known, info = intake.cached(key)
    if not known:
        try:
            info = await run_in_threadpool(intake.lookup, key)
        except Exception as exc:
            raise Refused(call.error(503, "Tocsin cannot store events right now")) from exc
    if info is None:
        raise Refused(call.error(401, opsgenie.UNAUTHENTICATED))
    if info.type != IntegrationType.opsgenie.value:
        message = (
            f"This key belongs to a {info.type} integration; use the key of an Opsgenie integration"
        )
        raise Refused(call.error(403, message, code=opsgenie.FORBIDDEN_CODE))
    return info


def _reader(request: Request) -> Session:
    """A read-only session (on SQLite it does not take the write lock)."""
    engine = request.app.state.container.engine
    factory = request.app.state.sessionmaker
    return factory(bind=engine.execution_options(sqlite_begin="DEFERRED"))


async def _json(request: Request, call: _Call) -> tuple[Any, str]:
    try:
        raw = await read_body(request.receive)
    except BodyTooLarge as exc:
        raise Refused(call.error(413, str(exc))) from exc
    if not raw.strip():
        return None, ""  # actions may come with no body at all (the SDK sends none)
    try:
        return bodies.decode(raw), raw.decode("utf-8", "replace")
    except bodies.TooDeep as exc:
        message = f"Could not parse the request body: {bodies.TOO_DEEP}"
        raise Refused(call.error(400, message)) from exc
    except msgspec.DecodeError as exc:
        raise Refused(call.error(400, "Could not parse the request body as JSON")) from exc


def _retryable(refused: Refused, call: _Call) -> Response:
    """Keep Opsgenie's error shape for a 429 or 503 from the shared ingestion code too."""
    response = refused.response
    if response.status_code in (429, 503) and b"requestId" not in response.body:
        retry = response.headers.get("retry-after", "5")
        return call.error(
            response.status_code,
            "Tocsin cannot take this request now",
            headers={"Retry-After": retry},
        )
    return response


async def _parsed(
    request: Request, call: _Call, parse: Callable[[Any], ParsedEvent]
) -> tuple[KeyInfo, str, ParsedEvent]:
    """The integration, the raw body and the event it reads as; a body Opsgenie's format
    refuses is kept as a rejected event and answered 422 (raised as Refused)."""
    info = await _integration(request, call)
    data, raw = await _json(request, call)
    try:
        return info, raw, parse(data)
    except opsgenie.OpsgenieInvalid as exc:
        await _intake(request).reject(info, raw.encode(), exc.errors)
        raise Refused(call.error(422, exc.message, exc.fields)) from exc


async def _accept(request: Request, call: _Call, parse: Callable[[Any], ParsedEvent]) -> Response:
    """A create or action: stored through the event pipeline, then 202."""
    try:
        info, raw, event = await _parsed(request, call, parse)
        if event.action == "trigger" and not event.dedup_key:
            event.dedup_key = uuid.uuid4().hex
        await store(request, info, [(event, raw or None)], request_id=call.id)
    except Refused as refused:
        return _retryable(refused, call)
    return JSONResponse(opsgenie.accepted(call.id, call.took), 202)


async def _update(request: Request, call: _Call, parse: Callable[[Any], ParsedEvent]) -> Response:
    """An update or a note: applied now, in order after what was stored before it, then 202."""
    try:
        info, raw, change = await _parsed(request, call, parse)
        if change.dedup_key is not None:
            await _settled(request, call, info, change.dedup_key)
        factory = request.app.state.sessionmaker

        def apply() -> None:
            with transaction(factory) as session:
                sender_updates.update_alert(
                    session, info.integration_id, change, raw=raw or None, request_id=call.id
                )

        try:
            await run_in_threadpool(apply)
        except Exception as exc:  # the database: never a 2xx for what was not stored
            log.error("opsgenie.update_failed", action=change.action, error=str(exc))
            raise Refused(call.error(503, "Tocsin cannot store this request now")) from exc
    except Refused as refused:
        return _retryable(refused, call)
    return JSONResponse(opsgenie.accepted(call.id, call.took), 202)


async def _settled(request: Request, call: _Call, info: KeyInfo, dedup_key: str) -> None:
    """Wait until no event for this alias of the integration waits to be applied."""

    def waiting() -> bool:
        with _reader(request) as session:
            return sender_updates.waiting_before(session, info.integration_id, dedup_key)

    deadline = time.monotonic() + SETTLE_SECONDS
    while await run_in_threadpool(waiting):
        if time.monotonic() > deadline:
            raise Refused(call.error(503, "The alert's earlier events are still being applied"))
        await asyncio.sleep(_POLL)


# --- reading alerts --------------------------------------------------------------------------


@router.get("/v2/alerts")
async def list_alerts(request: Request) -> Response:
    """The integration's alerts: `query`, `sort`, `order`, `limit` (≤100), `offset`."""
    call = _Call()
    try:
        info = await _integration(request, call)
    except Refused as refused:
        return refused.response
    try:
        search = opsgenie_alerts.parse_search(dict(request.query_params))
    except opsgenie.OpsgenieInvalid as exc:
        return call.error(422, "Invalid query parameters", exc.fields)

    def find() -> tuple[list[dict[str, Any]], int]:
        with _reader(request) as session:
            page, total = opsgenie_alerts.search_alerts(session, info.integration_id, search)
            return [opsgenie_alerts.alert_body(a, info.name, full=False) for a in page], total

    items, total = await run_in_threadpool(find)
    return call.ok({"data": items, "paging": _paging(request, search, total)})


def _paging(request: Request, search: opsgenie_alerts.Search, total: int) -> dict[str, str]:
    def at(offset: int) -> str:
        return str(request.url.include_query_params(offset=offset, limit=search.limit))

    paging = {"first": at(0)}
    if search.offset + search.limit < total:
        paging["next"] = at(search.offset + search.limit)
    if search.offset > 0:
        paging["prev"] = at(max(0, search.offset - search.limit))
    last = max(0, (total - 1) // search.limit * search.limit) if total else 0
    paging["last"] = at(min(last, opsgenie_alerts.OFFSET_MAX))
    return paging


@router.get("/v2/alerts/count")
async def count_alerts(request: Request) -> Response:
    """How many of the integration's alerts match `query`."""
    call = _Call()
    try:
        info = await _integration(request, call)
    except Refused as refused:
        return refused.response
    try:
        if request.query_params.get("searchIdentifier"):
            raise opsgenie.OpsgenieInvalid(
                {"searchIdentifier": "saved searches are not supported by Tocsin; use query"}
            )
        terms = opsgenie_alerts.parse_query(request.query_params.get("query"))
    except opsgenie.OpsgenieInvalid as exc:
        return call.error(422, "Invalid query parameters", exc.fields)

    def count() -> int:
        with _reader(request) as session:
            return opsgenie_alerts.count_alerts(session, info.integration_id, terms)

    return call.ok({"data": {"count": await run_in_threadpool(count)}})


@router.get("/v2/alerts/requests/{request_id}")
async def request_status(request_id: str, request: Request) -> Response:
    """What became of a request; waits briefly for one not applied yet."""
    call = _Call()
    try:
        info = await _integration(request, call)
    except Refused as refused:
        return refused.response

    def find() -> Event | None:
        with _reader(request) as session:
            return session.scalar(
                select(Event).where(
                    Event.request_id == request_id, Event.integration_id == info.integration_id
                )
            )

    event = await run_in_threadpool(find)
    for _ in range(40):  # applied within milliseconds normally; give it up to ~2 s
        if event is None or event.outcome != Outcome.pending.value:
            break
        await asyncio.sleep(_POLL)
        event = await run_in_threadpool(find)
    if event is None:
        return call.error(404, "Request not found. It might not be processed, yet.")
    if event.outcome == Outcome.pending.value:
        body = opsgenie.request_status(
            request_id,
            action=event.action,
            success=False,
            processed_at=event.received_at,
            integration_id=info.integration_id,
            took=call.took,
            status="Request is being processed",
        )
        return JSONResponse(body)
    if event.action not in opsgenie.REQUEST_ACTIONS:  # a refused body: not a request's id
        return call.error(404, "Request not found. It might not be processed, yet.")
    success = event.outcome in SUCCESS
    body = opsgenie.request_status(
        request_id,
        action=event.action,
        success=success,
        processed_at=event.processed_at or event.received_at,
        integration_id=info.integration_id,
        took=call.took,
        alert_id=event.alert_id,
        alias=event.dedup_key,
        status=None if success else _failure(event),
    )
    return JSONResponse(body)


def _failure(event: Event) -> str:
    detail = event.outcome_detail
    if event.outcome == Outcome.ignored.value and (
        "no open alert" in detail or detail.startswith("no alert")
    ):
        return "Alert does not exist"
    return detail or event.outcome


@router.get("/v2/alerts/{identifier:path}")
async def get_alert(identifier: str, request: Request) -> Response:
    """One alert of the integration by `id` (the default) or `alias` (identifierType)."""
    call = _Call()
    try:
        info = await _integration(request, call)
    except Refused as refused:
        return refused.response
    try:
        dedup_key, alert_id = opsgenie.parse_target(
            identifier, request.query_params.get("identifierType")
        )
    except opsgenie.OpsgenieInvalid as exc:
        return call.error(422, opsgenie.UNPROCESSABLE, exc.fields)

    def find() -> dict[str, Any] | None:
        with _reader(request) as session:
            alert = sender_updates.find_alert(
                session, info.integration_id, dedup_key=dedup_key, alert_id=alert_id
            )
            if alert is None:
                return None
            return opsgenie_alerts.alert_body(alert, info.name, full=True)

    body = await run_in_threadpool(find)
    if body is None:
        return call.error(404, "Alert does not exist")
    return call.ok({"data": body})


# --- changing alerts -------------------------------------------------------------------------


@router.post("/v2/alerts")
async def create_alert(request: Request) -> Response:
    return await _accept(request, _Call(), opsgenie.parse_create)


@router.post("/v2/alerts/{target:path}")
async def alert_action(target: str, request: Request) -> Response:
    """/v2/alerts/{identifier}/close, acknowledge, unacknowledge or notes."""
    call = _Call()
    identifier, _, action = target.rpartition("/")
    kind = request.query_params.get("identifierType")
    if identifier and action == "notes":
        return await _update(
            request, call, lambda data: opsgenie.parse_note(identifier, kind, data)
        )
    if identifier and action in opsgenie.ACTIONS:
        return await _accept(
            request, call, lambda data: opsgenie.parse_action(action, identifier, kind, data)
        )
    return await _unknown(request, call, "Unknown alert action")


@router.put("/v2/alerts/{target:path}")
async def alert_update(target: str, request: Request) -> Response:
    """/v2/alerts/{identifier}/message, description or priority."""
    call = _Call()
    identifier, _, name = target.rpartition("/")
    kind = request.query_params.get("identifierType")
    if identifier and name in opsgenie.UPDATES:
        return await _update(
            request, call, lambda data: opsgenie.parse_update(name, identifier, kind, data)
        )
    return await _unknown(request, call, "Unknown alert field")


async def _unknown(request: Request, call: _Call, message: str) -> Response:
    try:
        await _integration(request, call)
    except Refused as refused:
        return refused.response
    return call.error(404, message)


@router.api_route("/{rest:path}", methods=ALL_METHODS)
async def not_here(rest: str, request: Request) -> Response:
    """Anything else under /opsgenie: 405 (with Allow) for a path another method takes,
    otherwise 404; always Opsgenie's JSON error body, after authentication."""
    call = _Call()
    try:
        await _integration(request, call)
    except Refused as refused:
        return refused.response
    allowed = sorted(
        {
            method
            for route in router.routes
            if getattr(route, "endpoint", None) is not not_here
            and route.matches(request.scope)[0] == Match.PARTIAL
            for method in getattr(route, "methods", None) or ()
        }
    )
    if allowed:
        message = f"{request.method} is not supported here; use {', '.join(allowed)}"
        return call.error(405, message, headers={"Allow": ", ".join(allowed)})
    return call.error(404, "Resource or handler not found")
