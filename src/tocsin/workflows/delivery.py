"""A workflow's emails and webhook calls (`send_email`, `call_webhook`): `plan` writes a
`WorkflowDelivery` row and its `workflows.deliver` job in the run's transaction; the one
delivery module (notify/delivery.py) sends it after commit, with its retries. A webhook call
goes through notify's guarded webhook channel (the outbound guard again at each send) and is
signed as event webhooks are (`X-Tocsin-Signature: t=<unix time>,v1=<HMAC-SHA256 hex of
"<t>." + body>`), with the workflow's own secret. A final failure goes on the timeline."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record as on_timeline
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import Channels, WebhookChannel
from tocsin.notify.delivery import (
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    email_to,
    handler,
)
from tocsin.notify.messages import DRILL_LINE, WEBHOOK_VERSION, PageMessage
from tocsin.outbound import OutboundGuard
from tocsin.webhooks.delivery import encode, signed_target
from tocsin.workflows.models import Workflow, WorkflowDelivery, WorkflowRun

DELIVER_JOB = "workflows.deliver"
WEBHOOK_EVENT = "workflow.action"
PLANNED = "planned"


def signing_secret(secret_key: str, workflow: Workflow) -> str:
    """The secret signing a workflow's webhook calls: derived from the server's secret key,
    the workflow and its salt, so the database alone does not hold it."""
    message = f"workflow-webhook:{workflow.id}:{workflow.signing_salt}".encode()
    return "whsec_" + hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def _incident_json(incident: Incident, base_url: str) -> dict[str, Any]:
    return {
        "number": incident.number,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity.name if incident.severity else None,
        "priority": incident.priority.name if incident.priority else None,
        "status": incident.status,
        "urgency": incident.urgency,
        "drill": incident.drill,
        "services": [s.name for s in incident.services],
        "url": f"{base_url.rstrip('/')}/incidents/{incident.reference}",
    }


def plan(
    session: Session,
    run: WorkflowRun,
    incident: Incident,
    *,
    kind: str,
    target: str,
    subject: str = "",
    body: str = "",
    base_url: str = "",
) -> WorkflowDelivery:
    """Write one email (`kind` "email", `target` an address) or webhook call ("webhook",
    `target` a URL) and queue its job, in the caller's transaction."""
    ident = str(uuid.uuid4())
    payload: dict[str, Any] = {}
    if kind == "webhook":
        payload = {
            "version": WEBHOOK_VERSION,
            "type": WEBHOOK_EVENT,
            "delivery_id": ident,
            "workflow": run.workflow_name,
            "trigger": run.trigger,
            "created_at": utcnow().isoformat(),
            "incident": _incident_json(incident, base_url),
        }
    delivery = WorkflowDelivery(
        run_id=run.id,
        incident_id=incident.id,
        workflow_id=run.workflow_id,
        kind=kind,
        target=target,
        subject=subject,
        body=body,
        payload=payload,
        uuid=ident,
        state=PLANNED,
        results={},
    )
    session.add(delivery)
    session.flush()
    enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id}, key=f"wf-delivery:{delivery.id}")
    return delivery


def deliveries_of(session: Session, run: WorkflowRun) -> list[WorkflowDelivery]:
    return list(
        session.scalars(
            select(WorkflowDelivery)
            .where(WorkflowDelivery.run_id == run.id)
            .order_by(WorkflowDelivery.id)
        )
    )


@dataclass(frozen=True)
class WorkflowEmail(PageMessage):
    """A workflow's email: `title` is its subject, `reason` its body."""

    @property
    def subject(self) -> str:
        return f"[Tocsin] {self._drill}{self.title}"

    @property
    def headline(self) -> str:
        return f"{self._drill}{self.title}"

    def text(self) -> str:
        lines = [DRILL_LINE, ""] if self.drill else []
        lines += [self.reason, "", f"{self.reference}: {self.incident_url}"]
        return "\n".join(lines) + "\n"


class WorkflowDeliveries(Purpose[WorkflowDelivery]):
    """One email or webhook call of a workflow's action (a WorkflowDelivery row)."""

    job = DELIVER_JOB
    payload_key = "delivery_id"
    waiting = PLANNED

    def __init__(self, channels: Channels, webhook: WebhookChannel, settings: Settings) -> None:
        self.channels = channels
        self.webhook = webhook
        self.settings = settings

    def load(self, session: Session, ident: int) -> WorkflowDelivery | None:
        return session.get(WorkflowDelivery, ident, with_for_update=True)

    def why_not(self, session: Session, record: WorkflowDelivery) -> str | None:
        if record.kind == "webhook" and record.workflow_id is None:
            return "the workflow was deleted (its secret with it)"
        return None

    def targets(self, session: Session, record: WorkflowDelivery) -> list[Target] | Refusal:
        incident = session.get(Incident, record.incident_id)
        assert incident is not None  # the row goes with its incident
        if record.kind == "email":
            message = WorkflowEmail(
                kind="message",
                recipient_name=record.target,
                reason=record.body,
                title=record.subject,
                incident_number=incident.number,
                incident_url=f"{self.settings.base_url.rstrip('/')}/incidents/{incident.reference}",
                drill=incident.drill,
                delivery_id=f"tocsin-workflow-{record.uuid}",  # the same on a resend
            )
            return email_to(self.channels, record.target, record.target, message)
        workflow = session.get(Workflow, record.workflow_id)
        assert workflow is not None
        secret = signing_secret(self.settings.secret_key, workflow)
        body = encode(record.payload)
        return [
            signed_target(self.webhook, record.target, secret, WEBHOOK_EVENT, record.uuid, body)
        ]

    def attempted(
        self, session: Session, record: WorkflowDelivery, results: list[Result]
    ) -> str | None:
        return None

    def concluded(self, session: Session, record: WorkflowDelivery, outcome: Outcome) -> None:
        if not outcome.failed:
            return
        incident = session.get(Incident, record.incident_id)
        run = session.get(WorkflowRun, record.run_id)
        if incident is None or run is None:
            return
        what = "email" if record.kind == "email" else "webhook call"
        on_timeline(
            session,
            incident,
            "workflow",
            f"Workflow “{run.workflow_name}”: the {what} failed: {'; '.join(outcome.failed)}",
            by=None,
        )


def job_kinds(channels: Channels, settings: Settings) -> list[JobKind]:
    """The job kind bootstrap registers."""
    webhook = WebhookChannel(OutboundGuard.from_settings(settings), settings.notify_timeout_seconds)
    purpose = WorkflowDeliveries(channels, webhook, settings)
    deliver = handler(purpose, RetryPolicy.from_settings(settings))
    # The registry's own retry covers only an unexpected error (a lost connection).
    return [JobKind(DELIVER_JOB, deliver, max_attempts=3, timeout_seconds=120)]
