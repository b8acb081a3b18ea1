"""API shapes for event webhook subscriptions and their delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from tocsin.catalog.schemas import Name, Out, Strict, Timestamp, not_a_boolean, omittable
from tocsin.webhooks.models import WebhookDelivery, WebhookSubscription
from tocsin.webhooks.service import display_url

EventName = Literal[
    "incident.declared", "incident.acknowledged", "incident.status_changed",
    "incident.resolved", "incident.closed", "incident.reopened", "incident.severity_changed",
    "incident.type_changed", "incident.fields_changed", "incident.edited",
    "incident.role_assigned", "incident.update_posted", "alert.opened", "alert.resolved",
    "page.sent", "page.acknowledged", "runbook.attached", "runbook.step_ticked",
    "runbook.step_unticked",
]  # fmt: skip
Url = Annotated[str, Field(min_length=1, max_length=2048, description="An http(s) URL")]
Events = Annotated[list[EventName], Field(min_length=1, max_length=50)]
IdItem = Annotated[int, BeforeValidator(not_a_boolean), Field(ge=1, le=2**31 - 1)]
Ids = Annotated[list[IdItem], Field(max_length=200, description="Ids; none means any")]


class SubscriptionIn(Strict):
    name: Name
    url: Url
    events: Events
    severity_ids: Ids = []
    service_ids: Ids = []
    team_ids: Ids = Field(default=[], description="Teams owning one of its services")
    type_ids: Ids = []
    include_drills: bool = False
    include_restricted: bool = Field(default=False, description="Restricted incidents too")
    enabled: bool = True


class SubscriptionPatch(Strict):
    name: Name = omittable()
    url: Url = omittable(description="The masked value shown keeps the URL")
    events: Events = omittable()
    severity_ids: Ids = omittable()
    service_ids: Ids = omittable()
    team_ids: Ids = omittable()
    type_ids: Ids = omittable()
    include_drills: bool = omittable()
    include_restricted: bool = omittable()
    enabled: bool = omittable()


class SubscriptionOut(Out):
    id: int
    name: str
    url: str = Field(description="Its path and query are masked")
    events: list[str]
    severity_ids: list[int]
    service_ids: list[int]
    team_ids: list[int]
    type_ids: list[int]
    include_drills: bool
    include_restricted: bool
    enabled: bool
    created_at: Timestamp
    updated_at: Timestamp


class SubscriptionCreated(SubscriptionOut):
    signing_secret: str = Field(description="Shown this once; verify X-Tocsin-Signature")


class SecretOut(Out):
    signing_secret: str


class DeliveryOut(Out):
    id: int
    uuid: str = Field(description="The body's id and X-Tocsin-Delivery")
    event: str
    state: str = Field(description="queued, sending, sent, failed or skipped")
    attempts: int
    http_status: int | None = Field(description="The last attempt's HTTP status")
    duration_ms: int | None = Field(description="How long the last attempt took")
    error: str
    detail: str
    created_at: Timestamp
    updated_at: Timestamp
    sent_at: Timestamp | None


class EventKindOut(Out):
    event: str
    description: str


def subscription_out(subscription: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(_fields(subscription))


def subscription_created(subscription: WebhookSubscription, secret: str) -> SubscriptionCreated:
    return SubscriptionCreated.model_validate({**_fields(subscription), "signing_secret": secret})


def _fields(subscription: WebhookSubscription) -> dict[str, Any]:
    names = SubscriptionOut.model_fields
    values = {name: getattr(subscription, name) for name in names if name != "url"}
    return {**values, "url": display_url(subscription.url)}


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery)
