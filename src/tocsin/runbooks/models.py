"""ORM models for runbooks: the runbook, its versions, where it applies, its copies attached
to incidents, and each ticked step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service, User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentType
from tocsin.incidents.models import Incident

runbook_services = Table(
    "runbook_services",
    Base.metadata,
    Column("runbook_id", ForeignKey("runbooks.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Runbook(Base):
    """A runbook: where it applies and whether it attaches itself; its text is in versions.

    Deleting one only marks it (`deleted_at`): incidents keep the versions they hold."""

    __tablename__ = "runbooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    incident_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_types.id", ondelete="SET NULL"), default=None, index=True
    )
    # Attached by itself to an incident declared with its type and/or one of its services.
    auto_attach: Mapped[bool] = mapped_column(default=False)
    current_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    incident_type: Mapped[IncidentType | None] = relationship(lazy="joined")
    services: Mapped[list[Service]] = relationship(
        secondary=runbook_services, order_by="Service.name"
    )
    versions: Mapped[list[RunbookVersion]] = relationship(
        back_populates="runbook", order_by="RunbookVersion.number"
    )


class RunbookVersion(Base):
    """One saved text of a runbook; never changed once written. `steps` is the parsed list
    of `{number, text, role}` kept so that ticks refer to a fixed numbering."""

    __tablename__ = "runbook_versions"
    __table_args__ = (UniqueConstraint("runbook_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    runbook_id: Mapped[int] = mapped_column(ForeignKey("runbooks.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    runbook: Mapped[Runbook] = relationship(back_populates="versions")
    created_by: Mapped[User | None] = relationship()


class IncidentRunbook(Base):
    """A runbook attached to an incident, at the version it had then."""

    __tablename__ = "incident_runbooks"
    __table_args__ = (UniqueConstraint("incident_id", "runbook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    runbook_id: Mapped[int] = mapped_column(ForeignKey("runbooks.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("runbook_versions.id", ondelete="CASCADE"))
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)
    attached_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    incident: Mapped[Incident] = relationship()
    runbook: Mapped[Runbook] = relationship()
    version: Mapped[RunbookVersion] = relationship(lazy="joined")
    attached_by: Mapped[User | None] = relationship()
    ticks: Mapped[list[StepTick]] = relationship(
        order_by="StepTick.step", cascade="all, delete-orphan", passive_deletes=True
    )


class StepTick(Base):
    """One ticked step: its own row, so that two people ticking two steps never meet, and a
    step ticked twice at once is one row (the unique constraint)."""

    __tablename__ = "runbook_step_ticks"
    __table_args__ = (UniqueConstraint("attachment_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("incident_runbooks.id", ondelete="CASCADE")
    )
    step: Mapped[int]  # the step's number in the attached version
    ticked_at: Mapped[datetime] = mapped_column(default=utcnow)
    ticked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    ticked_by: Mapped[User | None] = relationship(lazy="joined")
