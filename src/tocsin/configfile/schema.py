"""The YAML format, as pydantic models. References are names, emails and slugs, never ids."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.configfile.chat import ChatDoc
from tocsin.configfile.comms import CommsChannelDoc, ServiceFollowersDoc
from tocsin.configfile.plan import PlanDoc
from tocsin.configfile.postmortems import PostmortemPolicyDoc, PostmortemTemplateDoc
from tocsin.configfile.roster import RosterDoc
from tocsin.configfile.runbooks import RunbookDoc
from tocsin.configfile.sso import SsoDoc
from tocsin.configfile.webhooks import WebhookDoc
from tocsin.configfile.workflows import WorkflowDoc


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeverityDoc(Item):
    name: str = Field(max_length=32)
    label: str = Field(max_length=64)
    description: str = ""
    rank: int = 1
    response_target_minutes: int | None = None
    response_next_business_day: bool = False
    color: str = "#888888"
    default_urgency: str = Field(default="high", description="high or low: declared incidents")


class PriorityDoc(Item):
    name: str = Field(max_length=32)
    description: str = ""
    rank: int = 1


class RoleDoc(Item):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=120)
    description: str = ""
    responsibilities: list[str] = []
    multiple: bool = False  # several holders on one incident


class FieldDoc(Item):
    key: str
    label: str
    kind: str = "text"
    required: bool = False
    options: list[str] = []
    help_text: str = ""


class IncidentTypeDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    default_severity: str | None = None
    default_priority: str | None = None
    default_restricted: bool = False
    roles_to_fill: list[str] = []
    fields: list[FieldDoc] = []


class UserDoc(Item):
    name: str = Field(max_length=120)
    email: str = Field(max_length=254)
    role: str = "responder"
    timezone: str = "UTC"


class TeamDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    members: list[str] = []


class ServiceDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    team: str | None = None
    tier: int = 2


class MatcherDoc(Item):
    field: str
    op: str = "equals"
    value: str | int | float | bool = ""


class RoutingRuleDoc(Item):
    service: str = Field(description="Where matching events go (a service name)")
    matchers: list[MatcherDoc]


class IntegrationDoc(Item):
    """Keys are never in the file: applying a new integration prints its key once."""

    name: str = Field(max_length=120)
    type: str = "pagerduty"
    config: dict[str, Any] = {}
    enabled: bool = True
    routing_rules: list[RoutingRuleDoc] = []


class SuppressionRuleDoc(Item):
    name: str = Field(max_length=120)
    matchers: list[MatcherDoc]
    action: str = "drop"
    severity: str | None = None
    enabled: bool = True


class AlertSettingsDoc(Item):
    grouping: str = "auto"
    group_fields: list[str] = []
    group_window_minutes: int = 60
    auto_resolve: bool = True
    severity_map: dict[str, str] = {}
    urgency_map: dict[str, str] = {}


class AlertingDoc(Item):
    """How one service receives alerts. Maintenance windows are operational, not here."""

    service: str
    settings: AlertSettingsDoc | None = None
    integrations: list[IntegrationDoc] = []
    suppression_rules: list[SuppressionRuleDoc] = []


class RestrictionDoc(Item):
    """On each of `days` (mon..sun), from `start` to `end` (HH:MM in the layer's zone)."""

    days: list[str]
    start: str
    end: str


class LayerDoc(Item):
    name: str = Field(max_length=120)
    kind: str = "rotation"
    shift_length: int = 1
    shift_unit: str = "weeks"
    handoff_time: str = "09:00"
    timezone: str | None = None  # default: the schedule's
    start_date: str | None = None  # YYYY-MM-DD; required for rotations
    end: str | None = None  # ISO 8601 with an offset
    members: list[str] = Field(default=[], description="Emails in turn order; repeats allowed")
    restrictions: list[RestrictionDoc] = []
    ical_url: str | None = None


class ScheduleDoc(Item):
    """A schedule; `layers` are listed lowest first (the last one wins where they overlap)."""

    name: str = Field(max_length=120)
    description: str = ""
    timezone: str = "UTC"
    team: str | None = None
    layers: list[LayerDoc] = []


class WindowDoc(Item):
    days: list[str] = Field(description="Weekdays: mon, tue, ... sun")
    start: str
    end: str
    timezone: str = "UTC"


class EscalationLevelDoc(Item):
    delay_minutes: int = 15
    round_robin: bool = False
    window: WindowDoc | None = None
    # Each target is one of {"user": email}, {"schedule": name}, {"team": name}.
    targets: list[dict[str, str]]


class EscalationPolicyDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    repeat: int = 0
    team: str | None = None
    levels: list[EscalationLevelDoc]


class PagingDoc(Item):
    """Which escalation policy pages for a service, and what low urgency does there."""

    service: str
    escalation_policy: str | None = None
    low_urgency: str = "notify"
    support_hours: WindowDoc | None = None


class ContactMethodDoc(Item):
    label: str = Field(max_length=120)
    kind: str = "email"
    # Left out of exports for Apprise URLs (they hold tokens); required for a new method.
    target: str | None = None
    enabled: bool = True


class NotificationRuleDoc(Item):
    urgency: str = "high"
    delay_minutes: int = 0
    contact_method: str = Field(max_length=120, description="a contact method's label")


class ShiftNotificationsDoc(Item):
    enabled: bool = True
    lead_minutes: int = Field(default=15, description="minutes before a shift starts")


class NotificationsDoc(Item):
    user: str = Field(max_length=254, description="the person's email")
    contact_methods: list[ContactMethodDoc] = []
    # Listed: exactly these rules, in this order. Left out: rules unchanged.
    rules: list[NotificationRuleDoc] | None = None
    # Given: the person's shift notices preference. Left out: unchanged.
    shift_notifications: ShiftNotificationsDoc | None = None


class StatusComponentDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    service: str | None = Field(default=None, description="a Tocsin service's name")
    showcase: bool = Field(default=True, description="show the 90-day uptime bar")
    only_show_if_degraded: bool = False


class StatusGroupDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    components: list[StatusComponentDoc] = []


class StatusPageDoc(Item):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=120)
    description: str = ""
    visibility: str = "public"
    time_zone: str = "UTC"
    public_url: str = ""
    brand_color: str = "#1f4e79"
    accent_color: str = "#0b6bcb"
    owner_team: str | None = None
    owner_user: str | None = Field(default=None, description="the owner's email")
    allow_subscribers: bool = True
    # In page order: the groups, then the components outside any group.
    groups: list[StatusGroupDoc] = []
    components: list[StatusComponentDoc] = []


class Document(Item):
    """The whole file. Later issues add sections (schedules, escalation policies, ...)."""

    version: int = 1
    severities: list[SeverityDoc] = []
    priorities: list[PriorityDoc] = []
    roles: list[RoleDoc] = []
    templates: dict[str, str] = {}
    incident_types: list[IncidentTypeDoc] = []
    postmortem_policies: list[PostmortemPolicyDoc] = []
    postmortem_templates: list[PostmortemTemplateDoc] = []
    users: list[UserDoc] = []
    teams: list[TeamDoc] = []
    services: list[ServiceDoc] = []
    runbooks: list[RunbookDoc] = []
    alerting: list[AlertingDoc] = []
    schedules: list[ScheduleDoc] = []
    roster: list[RosterDoc] = []
    escalation_policies: list[EscalationPolicyDoc] = []
    paging: list[PagingDoc] = []
    notifications: list[NotificationsDoc] = []
    comms_channels: list[CommsChannelDoc] = []
    service_followers: list[ServiceFollowersDoc] = []
    status_pages: list[StatusPageDoc] = []
    webhooks: list[WebhookDoc] = []
    chat: list[ChatDoc] = []
    sso: list[SsoDoc] = []
    workflows: list[WorkflowDoc] = []
    # One object: the response plan's own text.
    plan: PlanDoc | None = None
