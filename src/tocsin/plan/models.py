"""The response plan's own configuration: what counts as an incident, the incident values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, utcnow


class PlanSettings(Base):
    """The plan's free text (Markdown, rendered sanitized). At most one row; none until an
    admin first saves it."""

    __tablename__ = "plan_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    what_is_an_incident: Mapped[str] = mapped_column(Text, default="")
    incident_values: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
