"""API shapes of tracker connections and follow-ups' issues. Credentials are write-only:
an answer says only whether one is set."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Name, Strict, omittable
from tocsin.trackers.models import TrackerConnection, TrackerLink
from tocsin.trackers.vendors import label

KindName = Literal["jira", "github", "gitlab", "linear"]
BaseUrl = Annotated[
    str,
    Field(
        max_length=2048,
        description="The tracker's address: your Jira site (https://example.atlassian.net), "
        "https://api.github.com (or GitHub Enterprise's /api/v3), https://gitlab.com, "
        "https://api.linear.app; empty for the vendor's default (not Jira)",
    ),
]
Project = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Jira: the project key; GitHub: owner/repo; GitLab: the project id or "
        "path; Linear: the team id",
    ),
]
Secret = Annotated[str, Field(max_length=4096)]


class ConnectionIn(Strict):
    name: Name
    kind: KindName
    base_url: BaseUrl = ""
    project: Project
    account: str = Field(default="", max_length=254, description="Jira: the account's email")
    issue_type: str = Field(default="", max_length=60, description="Jira: default Task")
    credential: Secret = Field(
        min_length=1,
        description="Jira: an API token; GitHub: a token with issues read/write; GitLab: an "
        "access token with api scope; Linear: an API key. Stored encrypted, never shown back",
    )
    webhook_secret: Secret = Field(
        default="", description="The secret the tracker's webhook is set up with (write-only)"
    )


class ConnectionPatch(Strict):
    name: Name = omittable()
    kind: KindName = omittable()
    base_url: BaseUrl = omittable()
    project: Project = omittable()
    account: str = omittable(max_length=254)
    issue_type: str = omittable(max_length=60)
    credential: Secret = omittable()
    webhook_secret: Secret = omittable()
    clear_webhook_secret: bool = omittable()


class ConnectionOut(BaseModel):
    id: int
    name: str
    kind: KindName
    label: str
    base_url: str
    project: str
    account: str
    issue_type: str
    credential_set: bool
    webhook_secret_set: bool
    webhook_url: str = Field(description="Where to point the tracker's webhook")
    created_at: datetime
    updated_at: datetime


def connection_out(connection: TrackerConnection, base_url: str) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        name=connection.name,
        kind=connection.kind,
        label=label(connection.kind),
        base_url=connection.base_url,
        project=connection.project,
        account=connection.account,
        issue_type=connection.issue_type,
        credential_set=bool(connection.credential_encrypted),
        webhook_secret_set=bool(connection.webhook_secret_encrypted),
        webhook_url=webhook_url(connection, base_url),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def webhook_url(connection: TrackerConnection, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/trackers/{connection.id}/webhook"


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


class LinkIn(Strict):
    connection_id: int = Field(ge=1, le=2**31 - 1)
    action: Literal["create", "link"] = Field(
        description="create: a new issue from the follow-up; link: an existing issue"
    )
    issue: str = Field(
        default="",
        max_length=2048,
        description="link: the issue's key, number or URL (PROJ-12, #42, ENG-7, its URL)",
    )


class LinkOut(BaseModel):
    action_item_id: int
    connection_id: int
    connection_name: str
    tracker: str
    state: Literal["creating", "linking", "linked", "failed"]
    key: str
    url: str
    remote_state: str
    remote_closed: bool | None
    error: str
    attempts: int
    updated_at: datetime
    synced_at: datetime | None


def link_out(link: TrackerLink) -> LinkOut:
    return LinkOut(
        action_item_id=link.action_item_id,
        connection_id=link.connection_id,
        connection_name=link.connection.name,
        tracker=label(link.connection.kind),
        state=link.state,
        key=link.key,
        url=link.url,
        remote_state=link.remote_state,
        remote_closed=link.remote_closed,
        error=link.error,
        attempts=link.attempts,
        updated_at=link.updated_at,
        synced_at=link.synced_at,
    )


class WebhookOut(BaseModel):
    received: bool = True
    follow_ups: int = Field(description="How many linked follow-ups the event was about")
