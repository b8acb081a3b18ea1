"""API shapes for contact methods, notification rules and notifications."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tocsin.catalog.schemas import Id, Label, Out, Strict, Timestamp, omittable
from tocsin.notify.methods import display_target
from tocsin.notify.models import ContactMethod, Notification, NotificationRule, ShiftPreference

KindName = Literal["email", "apprise", "webhook", "chat"]
UrgencyName = Literal["high", "low"]
Target = Annotated[
    str,
    Field(
        max_length=2048,
        description="email: an address; apprise: an Apprise URL; webhook: an http(s) URL",
    ),
]
Delay = Annotated[int, Field(description="Minutes after the page starts (0–1440)")]
Position = Annotated[int, Field(description="Order within the urgency (1–100, unique)")]


class ContactMethodIn(Strict):
    kind: KindName
    target: Target
    label: Label = ""


class ContactMethodPatch(Strict):
    label: Label = omittable()
    target: Target = omittable()
    enabled: bool = omittable()


class ContactMethodOut(Out):
    id: int
    user_id: int
    kind: str
    label: str
    target: str = Field(description="Apprise URLs are masked (they often hold tokens)")
    enabled: bool
    last_ok: bool | None
    last_result: str
    last_result_at: Timestamp | None
    created_at: Timestamp


class ContactMethodCreated(ContactMethodOut):
    signing_secret: str | None = Field(
        default=None, description="Webhooks only: shown this once; verify X-Tocsin-Signature"
    )


class SecretOut(Out):
    signing_secret: str


def method_out(method: ContactMethod, secret: str | None = None) -> ContactMethodCreated:
    return ContactMethodCreated(
        id=method.id,
        user_id=method.user_id,
        kind=method.kind,
        label=method.label,
        target=display_target(method),
        enabled=method.enabled,
        last_ok=method.last_ok,
        last_result=method.last_result,
        last_result_at=method.last_result_at,
        created_at=method.created_at,
        signing_secret=secret,
    )


class RuleIn(Strict):
    urgency: UrgencyName
    contact_method_id: Id
    delay_minutes: Delay = 0
    position: Position | None = None


class RulePatch(Strict):
    urgency: UrgencyName = omittable()
    contact_method_id: Id = omittable()
    delay_minutes: Delay = omittable()
    position: Position = omittable()


class RuleOut(Out):
    id: int
    user_id: int
    urgency: str
    position: int
    delay_minutes: int
    contact_method_id: int


def rule_out(rule: NotificationRule) -> RuleOut:
    return RuleOut.model_validate(rule)


class NotificationOut(Out):
    id: int
    incident: str = Field(description="INC-42")
    user_id: int
    user_name: str
    contact_method_id: int | None
    channel: str
    method_label: str
    rule_position: int | None = Field(description="0: no rules (all methods); null: fallback")
    reason: str
    state: Literal["planned", "sent", "failed", "skipped", "cancelled"]
    attempts: int
    detail: str
    planned_at: Timestamp
    sent_at: Timestamp | None


def notification_out(row: Notification) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        incident=row.incident.reference,
        user_id=row.user_id,
        user_name=row.user.name,
        contact_method_id=row.contact_method_id,
        channel=row.channel,
        method_label=row.method_label,
        rule_position=row.rule_position,
        reason=row.reason,
        state=row.state,
        attempts=row.attempts,
        detail=row.detail,
        planned_at=row.planned_at,
        sent_at=row.sent_at,
    )


class ShiftPreferenceOut(Out):
    shift_notifications: bool = Field(
        description="Tell me when my on-call shifts start and when the schedule changes them"
    )
    lead_minutes: int = Field(description="How long before a shift starts (0: at the start)")


class ShiftPreferencePatch(Strict):
    shift_notifications: bool = omittable()
    lead_minutes: Annotated[
        int, Field(description="0–1440 minutes", json_schema_extra={"minimum": 0, "maximum": 1440})
    ] = omittable()


def shift_preference_out(row: ShiftPreference) -> ShiftPreferenceOut:
    return ShiftPreferenceOut(shift_notifications=row.enabled, lead_minutes=row.lead_minutes)


class ShiftNoticeOut(Out):
    id: int
    kind: Literal["starting", "changed"]
    schedule_id: int | None
    schedule_name: str
    shift_start: Timestamp | None
    shift_end: Timestamp | None
    subject: str
    body: str
    state: Literal["planned", "sending", "sent", "failed", "skipped"]
    attempts: int
    detail: str
    due_at: Timestamp
    sent_at: Timestamp | None
    created_at: Timestamp
