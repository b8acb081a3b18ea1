"""Sending event webhooks: each delivery is a `Purpose` of the one delivery module
(notify/delivery.py), so it retries with the one backoff (longer when the receiver's
Retry-After asks), through notify's guarded webhook channel, signed as pages are
(`X-Tocsin-Signature: t=<unix time>,v1=<HMAC-SHA256 hex of "<t>." + body>`).

A 4xx answer other than 429 is not retried: the receiver refused this body and will again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.config import Settings
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import (
    SIGNATURE_HEADER,
    DeliveryFailed,
    WebhookChannel,
    signature_header,
)
from tocsin.notify.delivery import (
    Answer,
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    handler,
)
from tocsin.outbound import OutboundGuard
from tocsin.webhooks.models import DeliveryState, WebhookDelivery
from tocsin.webhooks.service import DELIVER_JOB, display_url, signing_secret

DELIVERY_HEADER = "X-Tocsin-Delivery"
EVENT_HEADER = "X-Tocsin-Event"


class Refused(DeliveryFailed):
    """The receiver answered 4xx (not 429): another attempt would be refused again."""

    retryable = False


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def headers_for(secret: str, event: str, delivery_uuid: str, body: bytes) -> dict[str, str]:
    """The headers of one attempt, signed now (the timestamp is the attempt's)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"Tocsin/{__version__}",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_uuid,
        SIGNATURE_HEADER: signature_header(secret, body),
    }


def signed_target(
    channel: WebhookChannel, url: str, secret: str, event: str, ident: str, body: bytes
) -> Target:
    """One POST of `body` to `url`, signed afresh at each attempt; a 4xx answer (but 429) is
    refused for good. Takes no ORM object: it runs on the delivery's I/O thread."""

    def send() -> Answer:
        headers = headers_for(secret, event, ident, body)
        try:
            status = channel.post(url, body, headers)
        except DeliveryFailed as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise Refused(exc.reason, status=exc.status) from exc
            raise
        return Answer(f"HTTP {status}", status)

    return Target("webhook", display_url(url), "webhook", send)


class EventDeliveries(Purpose[WebhookDelivery]):
    """One event to one subscription (a WebhookDelivery row)."""

    job = DELIVER_JOB
    payload_key = "delivery_id"
    waiting = DeliveryState.queued.value

    def __init__(self, channel: WebhookChannel, settings: Settings) -> None:
        self.channel = channel
        self.settings = settings

    def load(self, session: Session, ident: int) -> WebhookDelivery | None:
        # Gone when its subscription was deleted: the job then ends with nothing to do.
        return session.get(WebhookDelivery, ident, with_for_update=True)

    def why_not(self, session: Session, record: WebhookDelivery) -> str | None:
        if record.event != "webhook.test" and not record.subscription.enabled:
            return "the subscription is disabled"
        return None

    def targets(self, session: Session, record: WebhookDelivery) -> list[Target] | Refusal:
        subscription = record.subscription
        url = subscription.url
        body = encode(record.payload)
        secret = signing_secret(self.settings.secret_key, subscription)
        return [signed_target(self.channel, url, secret, record.event, record.uuid, body)]

    def attempted(
        self, session: Session, record: WebhookDelivery, results: list[Result]
    ) -> str | None:
        """The delivery log's columns: the last attempt's HTTP status, duration and error."""
        for result in results:
            record.http_status = result.status
            record.duration_ms = round(result.seconds * 1000)
            record.error = "" if result.ok else result.detail[:2000]
        return None

    def concluded(self, session: Session, record: WebhookDelivery, outcome: Outcome) -> None:
        pass  # the subscription's delivery log is the record


def job_kinds(settings: Settings) -> list[JobKind]:
    """The job kind bootstrap registers."""
    channel = WebhookChannel(OutboundGuard.from_settings(settings), settings.notify_timeout_seconds)
    deliver = handler(EventDeliveries(channel, settings), RetryPolicy.from_settings(settings))
    # The registry's own retry covers only an unexpected error (a lost connection).
    return [JobKind(DELIVER_JOB, deliver, max_attempts=3, timeout_seconds=120)]
