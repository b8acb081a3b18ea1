"""Tracker connections (per organisation) and the link between a follow-up and its issue."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db import Base, utcnow
from tocsin.incidents.models import ActionItem


class TrackerKind(enum.StrEnum):
    jira = "jira"
    github = "github"
    gitlab = "gitlab"
    linear = "linear"


class LinkState(enum.StrEnum):
    creating = "creating"  # a job will create the issue (or is retrying after an error)
    linking = "linking"  # a job will look the given issue up before the link holds
    linked = "linked"
    failed = "failed"  # creating or linking gave up; `error` says why


class TrackerConnection(Base):
    """One tracker an admin connected: where it is, which project, and how to sign in."""

    __tablename__ = "tracker_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(2048))
    # Jira: the project key; GitHub: owner/repo; GitLab: the project id or path; Linear: the
    # team id.
    project: Mapped[str] = mapped_column(String(255))
    # Jira's account email (basic auth with an API token); not a secret.
    account: Mapped[str] = mapped_column(String(255), default="")
    # Jira: the issue type new issues get.
    issue_type: Mapped[str] = mapped_column(String(60), default="")
    # Fernet tokens (crypto.Vault, purpose "trackers"); never shown back.
    credential_encrypted: Mapped[str] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackerLink(Base):
    """A follow-up's issue: being created or looked up, linked (with its state), or failed."""

    __tablename__ = "tracker_links"
    __table_args__ = (Index("ix_tracker_links_connection_key", "connection_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_item_id: Mapped[int] = mapped_column(
        ForeignKey("action_items.id", ondelete="CASCADE"), unique=True
    )
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("tracker_connections.id", ondelete="CASCADE")
    )  # indexed by ix_tracker_links_connection_key, which webhooks look links up with
    state: Mapped[str] = mapped_column(String(16))
    # The issue as people name it: PROJ-12, 42 (GitHub, GitLab), ENG-7 (Linear); for a link
    # still being looked up, what was given.
    key: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(String(2048), default="")
    # The tracker's own word for its state ("In Progress", "closed") and whether it is done.
    remote_state: Mapped[str] = mapped_column(String(120), default="")
    remote_closed: Mapped[bool | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    # Which try of creating or linking this is: a new request starts a new generation, so a
    # job of an earlier one finds itself outdated and does nothing.
    generation: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(default=None)

    action_item: Mapped[ActionItem] = relationship()
    connection: Mapped[TrackerConnection] = relationship(lazy="joined")
