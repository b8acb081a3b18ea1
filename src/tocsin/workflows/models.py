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
