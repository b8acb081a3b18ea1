"""The mails about follow-ups: reminders to an owner and a team's weekly digest."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow


class MailKind(enum.StrEnum):
    due_soon = "due_soon"  # to the owner, a few days before the due date
    overdue = "overdue"  # to the owner, on the first overdue day, then weekly while open
    digest = "digest"  # to a team's admins: the team's overdue follow-ups, weekly


class FollowUpMail(Base):
    """One mail to one person, planned by the scan and sent by a job (notify/delivery.py)."""

    __tablename__ = "follow_up_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What makes it once: "due_soon:{item}:{due date}", "overdue:{item}:{due date}:{week}",
    # "digest:{team}:{ISO week}:{user}". A changed due date is a new key, so a new reminder.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("action_items.id", ondelete="CASCADE"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None, index=True
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()
