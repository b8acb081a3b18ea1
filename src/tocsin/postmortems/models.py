"""ORM models for postmortems, their sections, revisions, the policy per severity and the
template per incident type; their reviewers, comments and review meeting (their emails are
notify's plain mails)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.incidents.models import Incident


class PostmortemStatus(enum.StrEnum):
    draft = "draft"
    in_review = "in_review"
    reviewed = "reviewed"
    closed = "closed"


class MeetingUnit(enum.StrEnum):
    calendar_days = "calendar_days"
    business_days = "business_days"


class PostmortemPolicy(Base):
    """When a severity's incidents need a postmortem, and its deadlines."""

    __tablename__ = "postmortem_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    severity_id: Mapped[int] = mapped_column(
        ForeignKey("severities.id", ondelete="CASCADE"), unique=True
    )
    required: Mapped[bool] = mapped_column(default=False)
    # The review meeting is due this many days after the incident is resolved.
    meeting_within: Mapped[int] = mapped_column(default=5)
    meeting_unit: Mapped[str] = mapped_column(String(16), default=MeetingUnit.business_days.value)
    # The draft is due this many hours before the meeting.
    draft_hours_before: Mapped[int] = mapped_column(default=24)

    severity: Mapped[Severity] = relationship(lazy="joined")


class PostmortemTemplate(Base):
    """An incident type's own postmortem template (without one, PagerDuty's is used).

    `sections` is the ordered list of `{key, title, kind, guidance, text}`, validated by
    `type_templates.set_template`; it is replaced as a whole, never edited in place."""

    __tablename__ = "postmortem_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_type_id: Mapped[int] = mapped_column(
        ForeignKey("incident_types.id", ondelete="CASCADE"), unique=True
    )
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    incident_type: Mapped[IncidentType] = relationship(lazy="joined")
    updated_by: Mapped[User | None] = relationship()


class Postmortem(Base):
    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=PostmortemStatus.draft.value)
    meeting_due_at: Mapped[datetime | None] = mapped_column(default=None)
    draft_due_at: Mapped[datetime | None] = mapped_column(default=None)
    meeting_at: Mapped[datetime | None] = mapped_column(default=None)
    recording_url: Mapped[str] = mapped_column(String(2048), default="")
    # Bumped by every change to the postmortem's own fields or status.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # When it was published (who did it is on the incident's timeline).
    published_at: Mapped[datetime | None] = mapped_column(default=None)

    incident: Mapped[Incident] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    sections: Mapped[list[PostmortemSection]] = relationship(
        back_populates="postmortem",
        cascade="all, delete-orphan",
        order_by="PostmortemSection.position",
    )

    def section(self, key: str) -> PostmortemSection | None:
        return next((s for s in self.sections if s.key == key), None)


class PostmortemSection(Base):
    """One section of the template: Markdown, versioned for conflict checks."""

    __tablename__ = "postmortem_sections"
    __table_args__ = (UniqueConstraint("postmortem_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)
    # As the template said when the postmortem started: a later change to the template does
    # not reach postmortems already started.
    kind: Mapped[str] = mapped_column(String(32), default="markdown", server_default="markdown")
    guidance: Mapped[str] = mapped_column(Text, default="", server_default="")
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    postmortem: Mapped[Postmortem] = relationship(back_populates="sections")
    updated_by: Mapped[User | None] = relationship(lazy="joined")


class PostmortemRevision(Base):
    """A section's body as saved at one version (the pre-filled text is version 1)."""

    __tablename__ = "postmortem_revisions"
    __table_args__ = (UniqueConstraint("postmortem_id", "section_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    section_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text, default="")
    saved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)

    saved_by: Mapped[User | None] = relationship(lazy="joined")


class PostmortemDismissal(Base):
    """A blameless-review suggestion someone dismissed. The suggestion's id is derived from
    its rule, section and matched text, so it stays dismissed while that text is unchanged."""

    __tablename__ = "postmortem_dismissals"
    __table_args__ = (UniqueConstraint("postmortem_id", "suggestion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    suggestion_id: Mapped[str] = mapped_column(String(64))
    section_key: Mapped[str] = mapped_column(String(64))
    dismissed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    dismissed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Verdict(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    changes_requested = "changes_requested"


class PostmortemReviewer(Base):
    """A person asked to review a postmortem, and their verdict (pending until they give
    one; they may change it)."""

    __tablename__ = "postmortem_reviewers"
    __table_args__ = (UniqueConstraint("postmortem_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(24), default=Verdict.pending.value)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class PostmortemComment(Base):
    """A comment on one section of a postmortem (Markdown), resolvable."""

    __tablename__ = "postmortem_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), index=True
    )
    section_key: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    author: Mapped[User | None] = relationship(foreign_keys=[author_id], lazy="joined")
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])


class PostmortemMeeting(Base):
    """The review meeting as held: when, who attended, and its notes (Markdown)."""

    __tablename__ = "postmortem_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), unique=True
    )
    held_at: Mapped[datetime] = mapped_column()
    attendee_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
