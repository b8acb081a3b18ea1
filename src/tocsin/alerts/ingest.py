"""Ingestion endpoints other than `/v2/enqueue` (which is in hotpath.py): PagerDuty change
events, Alertmanager/Grafana/generic webhooks and heartbeats. No login: the key authenticates.

Every endpoint stores its events through the Intake's group commit before answering, so a 2xx
means the events are on disk; when they cannot be stored the answer is 429 or 503 with
Retry-After (which Alertmanager and the PagerDuty clients retry), never a 2xx.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from tocsin.alerts import generic
from tocsin.alerts.alertmanager import parse_webhook
from tocsin.alerts.hotpath import BodyTooLarge, pd_error, read_body
from tocsin.alerts.intake import Intake, KeyInfo, RateLimited
from tocsin.alerts.models import IntegrationType
from tocsin.alerts.pagerduty import EventInvalid, ParsedEvent, parse_change_event
from tocsin.alerts.writing import Overloaded
from tocsin.db import utcnow

log = structlog.get_logger("tocsin.ingest")
router = APIRouter(include_in_schema=False)


class Refused(Exception):
    """The request cannot be accepted; carries the response to send."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _intake(request: Request) -> Intake:
    return request.app.state.container.intake


def _error(status: int, message: str, errors: list[str], **headers: str) -> JSONResponse:
    return JSONResponse(pd_error(message, errors, status), status, headers=headers or None)


async def _raw(request: Request) -> bytes:
    try:
        return await read_body(request.receive)
    except BodyTooLarge as exc:
        raise Refused(_error(400, "Event too large", [str(exc)])) from exc


def _json(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise Refused(
            _error(400, "Event object format is unrecognized", ["JSON parse error"])
        ) from exc


async def _integration(request: Request, key: str, types: tuple[str, ...]) -> KeyInfo:
    intake = _intake(request)
    known, info = intake.cached(key)
    if not known:
        try:
            info = await run_in_threadpool(intake.lookup, key)
        except Exception as exc:
            raise Refused(_unavailable(exc)) from exc
    if info is None:
        raise Refused(_error(404, "No integration has this key", ["unknown integration key"]))
    if info.type not in types:
        raise Refused(
            _error(
                400,
                f"This key belongs to a {info.type} integration",
                [f"this endpoint takes {', '.join(types)} integrations"],
            )
        )
    return info


def _unavailable(exc: Exception) -> JSONResponse:
    log.error("ingest.database_unavailable", error=str(exc))
    return _error(
        503,
        "Tocsin cannot store events right now; retry",
        ["database unavailable"],
        **{"Retry-After": "5"},
    )


async def store(
    request: Request,
    info: KeyInfo,
    events: list[tuple[ParsedEvent, str | None]],
    *,
    request_id: str | None = None,
) -> None:
    """Write the events durably (group commit), or raise Refused with a 429/503."""
    intake = _intake(request)
    try:
        intake.admit(info, len(events))
        rows = intake.rows(info, events, received_at=utcnow(), request_id=request_id)
        await intake.writer.write(rows)
    except RateLimited as exc:
        raise Refused(
            _error(
                429,
                "Too many events for this key; retry later",
                [str(exc)],
                **{"Retry-After": str(exc.retry_after)},
            )
        ) from exc
    except Overloaded as exc:
        raise Refused(
            _error(429, "Tocsin is overloaded; retry later", [str(exc)], **{"Retry-After": "2"})
        ) from exc
    except Exception as exc:
        raise Refused(_unavailable(exc)) from exc


def _text(raw: bytes, secret: str = "") -> str:
    text = raw.decode("utf-8", "replace")
    return text.replace(secret, "<key>") if secret else text


@router.post("/v2/change/enqueue")
async def change_enqueue(request: Request) -> Response:
    """PagerDuty change events: kept for context on the service, never page anyone."""
    try:
        raw = await _raw(request)
        try:
            routing_key, summary = parse_change_event(_json(raw))
        except EventInvalid as exc:
            raise Refused(_error(400, exc.message, exc.errors)) from exc
        info = await _integration(request, routing_key, (IntegrationType.pagerduty.value,))
        event = ParsedEvent(routing_key="", action="change", dedup_key=None, summary=summary)
        await store(request, info, [(event, _text(raw, routing_key))])
    except Refused as refused:
        return refused.response
    return JSONResponse({"status": "success", "message": "Change event processed"}, 202)


WEBHOOK_TYPES = (
    IntegrationType.alertmanager.value,
    IntegrationType.grafana.value,
    IntegrationType.webhook.value,
)


@router.post("/hooks/{key}")
@router.put("/hooks/{key}")
async def webhook(key: str, request: Request) -> Response:
    """Alertmanager `webhook_configs`, Grafana webhook contact points and generic JSON.

    An Authorization header (Alertmanager http_config, Grafana basic/bearer auth) is accepted
    and not needed: the key in the URL identifies the integration.
    """
    try:
        info = await _integration(request, key, WEBHOOK_TYPES)
        raw = await _raw(request)
        if info.type == IntegrationType.webhook.value:
            events = await _generic_events(request, info, raw)
            sender = "webhook"
        else:
            try:
                sender, parsed = parse_webhook(_json(raw))
            except EventInvalid as exc:
                await _intake(request).reject(info, raw, exc.errors)
                raise Refused(_error(400, exc.message, exc.errors)) from exc
            except Refused:
                await _intake(request).reject(info, raw, ["JSON parse error"])
                raise
            events = [
                (event, msgspec.json.encode(alert).decode().replace(key, "<key>"))
                for event, alert in parsed
            ]
        await store(request, info, events)
    except Refused as refused:
        return refused.response
    return JSONResponse({"status": "success", "sender": sender, "events": len(events)}, 202)


async def _generic_events(
    request: Request, info: KeyInfo, raw: bytes
) -> list[tuple[ParsedEvent, str | None]]:
    """A generic webhook: any body is accepted; one the mapping cannot read still alerts."""
    mapping = await run_in_threadpool(_intake(request).mapping, info)
    try:
        body: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = raw.decode("utf-8", "replace")
    event, _readable = generic.apply(mapping, body, integration_name=info.name)
    return [(event, _text(raw))]


@router.api_route("/heartbeat/{key}", methods=["GET", "POST", "PUT", "HEAD"])
async def heartbeat(key: str, request: Request) -> Response:
    """A ping: proves the sender (a cron job, Alertmanager's Watchdog) is alive."""
    try:
        info = await _integration(request, key, (IntegrationType.heartbeat.value,))
        raw = await _raw(request)
        event = ParsedEvent(routing_key="", action="heartbeat", dedup_key=None, summary="ping")
        await store(request, info, [(event, _text(raw[:4096]) or None)])
    except Refused as refused:
        return refused.response
    return JSONResponse({"status": "ok", "message": "Heartbeat received"}, 202)
