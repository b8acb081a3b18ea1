"""Event webhooks' part of `tocsin check`: subscriptions whose conditions name what no longer
exists (they then match no incident on that condition), and those whose last delivery
failed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.findings import Finding
from tocsin.webhooks.models import DeliveryState, WebhookDelivery
from tocsin.webhooks.service import CONDITIONS, list_subscriptions


def webhook_findings(session: Session, now: datetime, weeks: int) -> list[Finding]:
    findings = []
    for subscription in list_subscriptions(session):
        if not subscription.enabled:
            continue
        for field, (model, what) in CONDITIONS.items():
            ids = getattr(subscription, field)
            gone = [i for i in ids if session.get(model, i) is None]
            if gone:
                findings.append(
                    Finding(
                        "warning",
                        "webhook",
                        subscription.name,
                        f"webhook \u201c{subscription.name}\u201d names a deleted {what} "
                        f"(id {', '.join(map(str, gone))}): no incident matches it there",
                    )
                )
        last = session.scalar(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription.id,
                WebhookDelivery.state.in_([DeliveryState.sent.value, DeliveryState.failed.value]),
            )
            .order_by(WebhookDelivery.id.desc())
            .limit(1)
        )
        if last is not None and last.state == DeliveryState.failed.value:
            findings.append(
                Finding(
                    "warning",
                    "webhook",
                    subscription.name,
                    f"webhook \u201c{subscription.name}\u201d: its last delivery failed "
                    f"({last.error or last.detail})",
                )
            )
    return findings
