"""PagerDuty Events API v2 endpoints. No login: the routing key in the body authenticates.

The event is committed before the 202 is sent. When the database cannot take it, the sender
gets 503 with Retry-After (PagerDuty clients and Alertmanager retry that), never a 2xx.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from tocsin.alerts import service
from tocsin.alerts.alertmanager import parse_webhook
from tocsin.alerts.models import IntegrationType
from tocsin.alerts.pagerduty import MAX_BODY, EventInvalid, parse_change_event, parse_event
from tocsin.db import transaction

log = structlog.get_logger("tocsin.ingest")
router = APIRouter(include_in_schema=False)


def _error(
    status: int, message: str, errors: list[str], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {
            "status": "invalid event" if status == 400 else "error",
            "message": message,
            "errors": errors,
        },
        status,
        headers=headers,
    )


async def _body(request: Request) -> Any:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise EventInvalid([f"event is larger than {MAX_BODY} bytes"], "Event too large")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventInvalid(["JSON parse error"], "Event object format is unrecognized") from exc


def _unavailable(exc: Exception) -> JSONResponse:
    log.error("ingest.database_unavailable", error=str(exc))
    return _error(
        503,
        "Tocsin cannot store events right now; retry",
        ["database unavailable"],
        {"Retry-After": "5"},
    )


@router.post("/v2/enqueue")
async def enqueue(request: Request) -> JSONResponse:
    try:
        body = await _body(request)
        event = parse_event(body)
    except EventInvalid as exc:
        return _error(400, exc.message, exc.errors)
    factory = request.app.state.sessionmaker

    def store() -> str | None:
        with transaction(factory) as session:
            integration = service.integration_by_key(session, event.routing_key)
            if integration is None:
                return None
            return service.ingest(session, integration, event, body).dedup_key

    try:
        dedup_key = await run_in_threadpool(store)
    except OperationalError as exc:
        return _unavailable(exc)
    if dedup_key is None:
        return _error(400, "Event object is invalid", ["Invalid routing key"])
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202
    )


@router.post("/v2/change/enqueue")
async def change_enqueue(request: Request) -> JSONResponse:
    try:
        body = await _body(request)
        routing_key, summary = parse_change_event(body)
    except EventInvalid as exc:
        return _error(400, exc.message, exc.errors)
    factory = request.app.state.sessionmaker

    def store() -> int | None:
        with transaction(factory) as session:
            integration = service.integration_by_key(session, routing_key)
            if integration is None:
                return None
            return service.record_change(session, integration, summary, body).id

    try:
        event_id = await run_in_threadpool(store)
    except OperationalError as exc:
        return _unavailable(exc)
    if event_id is None:
        return _error(400, "Event object is invalid", ["Invalid routing key"])
    return JSONResponse(
        {"status": "success", "message": "Change event processed", "id": str(event_id)}, 202
    )


@router.post("/hooks/{key}")
@router.put("/hooks/{key}")
async def webhook(key: str, request: Request) -> JSONResponse:
    """Alertmanager `webhook_configs` and Grafana webhook contact points post here.

    An Authorization header (Alertmanager http_config, Grafana basic/bearer auth) is accepted
    and not needed: the key in the URL identifies the integration.
    """
    try:
        body = await _body(request)
        sender, events = parse_webhook(body)
    except EventInvalid as exc:
        return _error(400, exc.message, exc.errors)
    factory = request.app.state.sessionmaker

    def store() -> list[str] | str:
        with transaction(factory) as session:
            integration = service.integration_by_key(session, key)
            if integration is None:
                return "unknown"
            if integration.type not in (IntegrationType.alertmanager, IntegrationType.grafana):
                return "wrong-type"
            return [
                service.ingest(session, integration, event, raw).outcome for event, raw in events
            ]

    try:
        outcome = await run_in_threadpool(store)
    except OperationalError as exc:
        return _unavailable(exc)
    if outcome == "unknown":
        return _error(404, "No integration has this key", ["unknown integration key"])
    if outcome == "wrong-type":
        return _error(
            400,
            "This integration takes PagerDuty events at /v2/enqueue",
            ["wrong endpoint for this integration"],
        )
    return JSONResponse(
        {"status": "success", "sender": sender, "alerts": len(events), "outcomes": outcome}, 200
    )
