"""The Opsgenie Alert API subset under `/opsgenie`, so Alertmanager's `opsgenie_configs`
(`api_url: https://tocsin.example.com/opsgenie`) and the opsgenie-sdk client work unchanged.

Like Opsgenie, requests are answered 202 with a requestId once stored, and applied right
after; `GET /opsgenie/v2/alerts/requests/{id}` tells what became of one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tocsin.alerts import bodies, opsgenie
from tocsin.alerts.hotpath import BodyTooLarge, read_body
from tocsin.alerts.ingest import Refused, _intake, store
from tocsin.alerts.intake import KeyInfo
from tocsin.alerts.models import Event, IntegrationType, Outcome

router = APIRouter(prefix="/opsgenie", include_in_schema=False)
SUCCESS = {
    Outcome.created_alert.value,
    Outcome.deduplicated.value,
    Outcome.acknowledged.value,
    Outcome.unacknowledged.value,
    Outcome.resolved.value,
}


class _Call:
    """One request's id and clock, for Opsgenie's `requestId` and `took`."""

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.started = time.perf_counter()

    @property
    def took(self) -> float:
        return round(time.perf_counter() - self.started, 3)

    def error(self, status: int, message: str, errors: dict[str, str] | None = None) -> Response:
        return JSONResponse(opsgenie.error_body(message, self.took, self.id, errors), status)


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
        raise Refused(call.error(403, f"This key belongs to a {info.type} integration"))
    return info


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


async def _accept(request: Request, call: _Call, parse: Any) -> Response:
    try:
        info = await _integration(request, call)
        data, raw = await _json(request, call)
        try:
            event = parse(data)
        except opsgenie.OpsgenieInvalid as exc:
            await _intake(request).reject(info, raw.encode(), exc.errors)
            return call.error(422, exc.message, exc.fields)
        if event.action == "trigger" and not event.dedup_key:
            event.dedup_key = uuid.uuid4().hex
        await store(request, info, [(event, raw or None)], request_id=call.id)
    except Refused as refused:
        response = refused.response
        if response.status_code in (429, 503):  # keep Opsgenie's error shape for retries too
            retry = response.headers.get("retry-after", "5")
            failed = call.error(response.status_code, "Tocsin cannot take this request now")
            failed.headers["Retry-After"] = retry
            return failed
        return response
    return JSONResponse(opsgenie.accepted(call.id, call.took), 202)


@router.post("/v2/alerts")
async def create_alert(request: Request) -> Response:
    return await _accept(request, _Call(), opsgenie.parse_create)


@router.get("/v2/alerts/requests/{request_id}")
async def request_status(request_id: str, request: Request) -> Response:
    """What became of a request; waits briefly for one not applied yet."""
    call = _Call()
    try:
        info = await _integration(request, call)
    except Refused as refused:
        return refused.response
    factory = request.app.state.sessionmaker

    def find() -> Event | None:
        with factory() as session:
            return session.scalar(
                select(Event).where(
                    Event.request_id == request_id, Event.integration_id == info.integration_id
                )
            )

    event = await run_in_threadpool(find)
    for _ in range(40):  # applied within milliseconds normally; give it up to ~2 s
        if event is None or event.outcome != Outcome.pending.value:
            break
        await asyncio.sleep(0.05)
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
    success = event.outcome in SUCCESS
    body = opsgenie.request_status(
        request_id,
        action=event.action,
        success=success,
        processed_at=event.processed_at or event.received_at,
        integration_id=info.integration_id,
        took=call.took,
        alert_id=event.alert_ref,
        alias=event.dedup_key,
        status=None if success else _failure(event),
    )
    return JSONResponse(body)


def _failure(event: Event) -> str:
    if event.outcome == Outcome.ignored.value and "no open alert" in event.outcome_detail:
        return "Alert does not exist"
    return event.outcome_detail or event.outcome


@router.post("/v2/alerts/{target:path}")
async def alert_action(target: str, request: Request) -> Response:
    """close, acknowledge or unacknowledge: /v2/alerts/{identifier}/{action}."""
    call = _Call()
    identifier, _, action = target.rpartition("/")
    if not identifier or action not in opsgenie.ACTIONS:
        return call.error(404, "Unknown alert action; use close, acknowledge or unacknowledge")
    kind = request.query_params.get("identifierType")
    return await _accept(
        request, call, lambda data: opsgenie.parse_action(action, identifier, kind, data)
    )
