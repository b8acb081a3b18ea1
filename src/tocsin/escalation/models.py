"""ORM models for escalation policies, a service's paging settings, and the record of every
escalation: runs (one walk through a policy for an incident) and their steps (one level
evaluated: who it targeted, who that reached, and why)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service, Team, User
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class TargetKind(enum.StrEnum):
    user = "user"
    schedule = "schedule"  # whoever is on call in it at the time
    team = "team"  # every active member


class LowUrgency(enum.StrEnum):
    notify = "notify"  # page the first level once (low-urgency rules), never escalate
    support_hours = "support_hours"  # wait for the service's support hours, then escalate
    page = "page"  # treat like high urgency


class RunState(enum.StrEnum):
    active = "active"
    waiting = "waiting"  # low urgency, waiting for support hours
    acknowledged = "acknowledged"
    resolved = "resolved"
    exhausted = "exhausted"  # every level and repeat done, nobody acknowledged
    superseded = "superseded"  # escalated or reassigned by hand: a newer run took over
    finished = "finished"  # low urgency: the first level was notified once, no escalation


OPEN_RUN_STATES = (RunState.active.value, RunState.waiting.value)


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # How many more times the whole policy runs when nobody acknowledges (0: once).
    repeat: Mapped[int] = mapped_column(default=0)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship()
    levels: Mapped[list[EscalationLevel]] = relationship(
        back_populates="policy",
        order_by="EscalationLevel.position",
        cascade="all, delete-orphan",
    )


class EscalationLevel(Base):
    __tablename__ = "escalation_levels"
    __table_args__ = (UniqueConstraint("policy_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()  # 0-based; shown as "level 1"
    # Minutes to wait for an acknowledgement before the next level.
    delay_minutes: Mapped[int] = mapped_column(default=15)
    round_robin: Mapped[bool] = mapped_column(default=False)
    # Whom round robin pages next (an index into the level's people at the time).
    round_robin_next: Mapped[int] = mapped_column(default=0)
    # {"days": [0..6], "start": "HH:MM", "end": "HH:MM", "timezone": "..."}: the level only
    # pages inside this window; outside it the level is skipped (and that is recorded).
    window: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    policy: Mapped[EscalationPolicy] = relationship(back_populates="levels")
    targets: Mapped[list[EscalationTarget]] = relationship(
        back_populates="level", order_by="EscalationTarget.id", cascade="all, delete-orphan"
    )


class EscalationTarget(Base):
    __tablename__ = "escalation_targets"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN schedule_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_levels.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None, index=True
    )

    level: Mapped[EscalationLevel] = relationship(back_populates="targets")
    user: Mapped[User | None] = relationship()
    team: Mapped[Team | None] = relationship()


class ServicePaging(Base):
    """How a service pages: its escalation policy, and what low urgency means for it."""

    __tablename__ = "service_paging"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL"), default=None, index=True
    )
    low_urgency: Mapped[str] = mapped_column(String(16), default=LowUrgency.notify.value)
    # A Window (see windows.py); None: no support hours (support_hours mode then pages at once).
    support_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    service: Mapped[Service] = relationship()
    policy: Mapped[EscalationPolicy | None] = relationship()


class EscalationRun(Base):
    """One walk through a policy for an incident (or a one-off page by hand)."""

    __tablename__ = "escalation_runs"
    __table_args__ = (Index("ix_escalation_runs_incident", "incident_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL"), default=None
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), default=None
    )
    # Kept as text so the record reads the same after a policy is renamed or deleted.
    label: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=RunState.active.value)
    # Only the first level, once (low urgency "notify").
    first_level_only: Mapped[bool] = mapped_column(default=False)
    # Started (by hand) on an incident already acknowledged: the incident's acknowledgement
    # does not stop it, only acknowledging this page does (engine.acknowledge_pages).
    needs_own_acknowledgement: Mapped[bool] = mapped_column(default=False)
    level: Mapped[int] = mapped_column(default=0)
    cycle: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_reason: Mapped[str] = mapped_column(Text, default="")
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    incident: Mapped[Incident] = relationship()
    policy: Mapped[EscalationPolicy | None] = relationship()
    steps: Mapped[list[EscalationStep]] = relationship(
        back_populates="run", order_by="EscalationStep.id", cascade="all, delete-orphan"
    )
    started_by: Mapped[User | None] = relationship(foreign_keys=[started_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])


class EscalationStep(Base):
    """One level of a run evaluated: its targets, whom they reached and why, what happened."""

    __tablename__ = "escalation_steps"
    __table_args__ = (
        UniqueConstraint("run_id", "cycle", "level"),
        # The escalations of a period (insights' on-call load).
        Index("ix_escalation_steps_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("escalation_runs.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    cycle: Mapped[int] = mapped_column()
    level: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # [{"target": 'schedule "Primary"', "users": [{"id": 1, "name": "Ann", "why": "..."}],
    #   "note": "nobody is on call"}]
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    paged_user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    outcome: Mapped[str] = mapped_column(Text, default="")

    run: Mapped[EscalationRun] = relationship(back_populates="steps")
