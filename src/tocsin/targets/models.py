"""ORM models for response targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class TargetReminder(Base):
    """One email telling a person an incident's first response is nearly due, as a delivery
    record (notify/delivery.py). One per incident, person and due time."""

    __tablename__ = "target_reminders"
    __table_args__ = (UniqueConstraint("incident_id", "user_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The due time the reminder is about: it is not sent if the incident's has changed.
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Loaded on access: the delivery module locks the row (FOR UPDATE), which PostgreSQL
    # refuses across an outer join.
    incident: Mapped[Incident] = relationship()
    user: Mapped[User] = relationship()
