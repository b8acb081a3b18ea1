"""ORM models for workflows: the workflow (trigger, conditions, ordered actions) and each run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, utcnow


class Workflow(Base):
    """A trigger, conditions (JSON, `conditions.Conditions`) and ordered actions (JSON, each
    one of `actions.Action`), validated by `service` before they are stored."""

    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    trigger: Mapped[str] = mapped_column(String(40), index=True)
    # For the timer triggers: after how many minutes.
    trigger_minutes: Mapped[int | None] = mapped_column(default=None)
    # For "custom field changed": which field (any when empty).
    trigger_field: Mapped[str] = mapped_column(String(64), default="")
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # With the server's secret key, derives the secret that signs its webhook calls (so the
    # database alone does not hold it); rotating changes it.
    signing_salt: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """One run of a workflow on an incident: why it ran (or was skipped) and what each
    action did, in words ("done: paged Ann", "skipped: role 'scribe' was deleted")."""

    __tablename__ = "workflow_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"), default=None, index=True
    )
    # Kept so the log still reads after the workflow is deleted.
    workflow_name: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(40))
    # The triggering event's identity; with the workflow it is the job key (idempotence).
    event_key: Mapped[str] = mapped_column(String(160))
    # 1 for a change made by a person or the system; n+1 for a change made by a depth-n run.
    depth: Mapped[int] = mapped_column(default=1)
    # queued | running | waiting | done | skipped | failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(Text, default="")
    outcomes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class WorkflowDelivery(Base):
    """An email or a webhook call a run's action asked for: written in the run's transaction
    and sent after commit by the one delivery module (`workflows.delivery`), with its record
    (state, attempts, per-target results, a detail line people read)."""

    __tablename__ = "workflow_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # The workflow whose secret signs a webhook call (gone: the call is skipped).
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))  # "email" | "webhook"
    # The address or the URL.
    target: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # A webhook's JSON body, built in the run's transaction (a snapshot of the incident).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Kept across attempts: the email's Message-ID, the webhook's X-Tocsin-Delivery.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
