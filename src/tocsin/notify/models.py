"""ORM models for contact methods, personal notification rules, deliveries, action links,
and shift notices (with each person's choice about them)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class ContactKind(enum.StrEnum):
    email = "email"  # an address; sent through the configured SMTP relay
    apprise = "apprise"  # an Apprise URL: SMS, voice, chat, push, generic webhooks
    webhook = "webhook"  # Tocsin's own signed JSON webhook
    # A direct message from the bot of a chat connection (target: the connection's id), with
    # acknowledge and resolve buttons; the person's linked chat account receives it.
    chat = "chat"


class NotificationState(enum.StrEnum):
    planned = "planned"  # waiting for its time (or for a retry)
    # Being sent: recorded (committed) before the send starts, so that no transaction is
    # open while a slow channel answers. A worker that dies here leaves it to be sent again.
    sending = "sending"
    sent = "sent"
    failed = "failed"  # every attempt failed
    skipped = "skipped"  # not sent, on purpose (acknowledged, resolved, method gone)
    cancelled = "cancelled"


class ActionKind(enum.StrEnum):
    acknowledge = "acknowledge"
    resolve = "resolve"


URGENCIES = ("high", "low")


class ContactMethod(Base):
    __tablename__ = "contact_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(120))
    # An email address, an Apprise URL or a webhook URL (Apprise URLs may hold credentials:
    # they are needed to send, so they are stored, and shown back only masked).
    target: Mapped[str] = mapped_column(Text)
    # Webhooks: the signing secret is derived from the server's secret key and this salt, so
    # the database alone does not hold it; rotating the salt rotates the secret.
    signing_salt: Mapped[str] = mapped_column(String(64), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # The last delivery or test through this method, for the user's page and `tocsin check`.
    last_ok: Mapped[bool | None] = mapped_column(default=None)
    last_result: Mapped[str] = mapped_column(Text, default="")
    last_result_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()

    @property
    def failing(self) -> bool:
        return self.last_ok is False


class NotificationRule(Base):
    """'After `delay_minutes`, notify me through this method' for one urgency."""

    __tablename__ = "notification_rules"
    __table_args__ = (UniqueConstraint("user_id", "urgency", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    urgency: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column()
    delay_minutes: Mapped[int] = mapped_column(default=0)
    contact_method_id: Mapped[int] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact_method: Mapped[ContactMethod] = relationship()


class Notification(Base):
    """One planned or attempted delivery of a page to one person through one method."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_incident", "incident_id", "planned_at"),
        # The pages of a period (insights' on-call load).
        Index("ix_notifications_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="SET NULL"), default=None, index=True
    )
    # What the method was when planned, so history reads right after it is edited or deleted.
    channel: Mapped[str] = mapped_column(String(16))
    method_label: Mapped[str] = mapped_column(String(120), default="")
    # The rule's position; 0 when the user had no rules (all methods at once); None for a
    # fallback after another method failed.
    rule_position: Mapped[int | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    # "{caller's key}:{user id}": every delivery of one page to one person shares it.
    page_key: Mapped[str] = mapped_column(String(255), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.planned.value)
    attempts: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    # {target key: {"label", "channel", "ok", "detail"}}: what each attempt's target said.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    planned_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()
    user: Mapped[User] = relationship()
    contact_method: Mapped[ContactMethod | None] = relationship()


class ActionToken(Base):
    """A single-use, expiring link to acknowledge or resolve an incident without logging in."""

    __tablename__ = "action_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the random token in the link; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()
    user: Mapped[User] = relationship()


class ShiftNoticeKind(enum.StrEnum):
    starting = "starting"  # "you are on call for Primary from 09:00 to 09:00 tomorrow"
    changed = "changed"  # an override, swap or layer edit changed the person's coming shifts


DEFAULT_SHIFT_LEAD_MINUTES = 15


class ShiftPreference(Base):
    """A person's choice about shift notices; no row means the defaults (on, 15 minutes)."""

    __tablename__ = "shift_notice_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    # How long before a shift starts the "you are on call" notice is sent (0: at the start).
    lead_minutes: Mapped[int] = mapped_column(default=DEFAULT_SHIFT_LEAD_MINUTES)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShiftNotice(Base):
    """One shift notice to one person, sent to their contact methods by a job."""

    __tablename__ = "shift_notices"
    __table_args__ = (Index("ix_shift_notices_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None, index=True
    )
    # Kept so that the notice reads right after the schedule is renamed or deleted.
    schedule_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    # Starting notices: "shift-start:{user}:{schedule}:{start}", so a shift is announced once
    # however many scans or workers see it; change notices: a random suffix.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    shift_start: Mapped[datetime | None] = mapped_column(default=None)
    shift_end: Mapped[datetime | None] = mapped_column(default=None)
    subject: Mapped[str] = mapped_column(Text, default="")
    # What happened, in the person's time zone (the message adds a greeting and links).
    body: Mapped[str] = mapped_column(Text, default="")
    # Structured for the signed webhook: the shift, or the list of changes.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.planned.value)
    attempts: Mapped[int] = mapped_column(default=0)
    # {contact method id: {"label", "channel", "ok", "detail"}}: the result per method.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )

    user: Mapped[User] = relationship()


class Mail(Base):
    """A plain email to one person's account address, planned by any domain through
    `notify.mails.plan` and sent by a job (notify/delivery.py) with its retries. The weekly
    Insights report is one; so is a response target's reminder, about an incident."""

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What makes it once, chosen by the planner: "insights-weekly:{team}:{ISO week}:{user}".
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # who planned it, for people reading the row
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # The page it links to, as a path under TOCSIN_BASE_URL ("/incidents/INC-12"), or "".
    link: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # The incident it is about, if any: the email names it and says DRILL for a drill, and a
    # failure is on its timeline.
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True, default=None
    )
    # What its kind's check reads when it is sent (`notify.mails.MailKind`): a response
    # target reminder's due time.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    state: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    # Loaded when sent, not joined: the send locks the row, and PostgreSQL locks no outer join.
    user: Mapped[User] = relationship()
    incident: Mapped[Incident | None] = relationship()
