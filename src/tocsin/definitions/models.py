"""ORM models for the organisation's incident vocabulary."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db import Base


class FieldKind(enum.StrEnum):
    text = "text"
    number = "number"
    single_select = "single_select"
    multi_select = "multi_select"
    user = "user"
    boolean = "boolean"
    url = "url"


class Phase(enum.StrEnum):
    """Status update phases; each moves the incident to the status of the same name."""

    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


class Severity(Base):
    __tablename__ = "severities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)  # "SEV1"
    label: Mapped[str] = mapped_column(String(64))  # "Critical"
    description: Mapped[str] = mapped_column(Text, default="")
    # Lower rank is more severe. Used for sorting and for "worst severity" questions.
    rank: Mapped[int] = mapped_column(default=1)
    # Response target for SLA tracking: minutes, or "next business day".
    response_target_minutes: Mapped[int | None] = mapped_column(default=None)
    response_next_business_day: Mapped[bool] = mapped_column(default=False)
    color: Mapped[str] = mapped_column(String(16), default="#888888")
    # How an incident declared by hand with this severity pages, unless the declarer chooses
    # ("high" or "low"; alerts map their own severities, see alerts.rules).
    default_urgency: Mapped[str] = mapped_column(String(8), default="high")

    @property
    def display(self) -> str:
        return f"{self.name} {self.label}".strip()

    @property
    def response_target_text(self) -> str:
        if self.response_next_business_day:
            return "next business day"
        if self.response_target_minutes is None:
            return "none"
        minutes = self.response_target_minutes
        if minutes % 60 == 0:
            hours = minutes // 60
            return f"{hours} hour" + ("s" if hours != 1 else "")
        return f"{minutes} minutes"


class Priority(Base):
    __tablename__ = "priorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)  # "P1"
    description: Mapped[str] = mapped_column(Text, default="")
    rank: Mapped[int] = mapped_column(default=1)


incident_type_roles = Table(
    "incident_type_roles",
    Base.metadata,
    Column("type_id", ForeignKey("incident_types.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("incident_roles.id", ondelete="CASCADE"), primary_key=True),
)


class IncidentType(Base):
    __tablename__ = "incident_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    default_severity_id: Mapped[int | None] = mapped_column(
        ForeignKey("severities.id", ondelete="SET NULL"), default=None
    )
    default_priority_id: Mapped[int | None] = mapped_column(
        ForeignKey("priorities.id", ondelete="SET NULL"), default=None
    )
    # New incidents of this type are restricted (security incidents) by default.
    default_restricted: Mapped[bool] = mapped_column(default=False)

    default_severity: Mapped[Severity | None] = relationship(foreign_keys=[default_severity_id])
    default_priority: Mapped[Priority | None] = relationship(foreign_keys=[default_priority_id])
    fields: Mapped[list[CustomField]] = relationship(
        back_populates="incident_type",
        order_by="CustomField.position, CustomField.id",
        cascade="all, delete-orphan",
    )
    roles_to_fill: Mapped[list[IncidentRole]] = relationship(
        secondary=incident_type_roles, order_by="IncidentRole.position"
    )


class CustomField(Base):
    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("type_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("incident_types.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32), default=FieldKind.text.value)
    required: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    help_text: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)

    incident_type: Mapped[IncidentType] = relationship(back_populates="fields")

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "required": self.required,
            "options": list(self.options or []),
            "help_text": self.help_text,
        }


class IncidentRole(Base):
    __tablename__ = "incident_roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # "incident_commander"
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # One responsibility per line.
    responsibilities: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    # Whether an incident may have several holders (subject matter experts, scribes) or one
    # (the commander: one source of truth, handed over rather than shared).
    multiple: Mapped[bool] = mapped_column(default=False, server_default=false())

    @property
    def responsibility_list(self) -> list[str]:
        return [line.strip() for line in self.responsibilities.splitlines() if line.strip()]


class UpdateTemplate(Base):
    __tablename__ = "update_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase: Mapped[str] = mapped_column(String(32), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
