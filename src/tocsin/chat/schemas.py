"""API shapes of chat connections and people's chat links. Credentials are write-only: an
answer names the ones set, never their values."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.schemas import NO_NUL, Name, Strict, Timestamp, not_a_boolean, omittable
from tocsin.chat import connections
from tocsin.chat.models import ChatConnection, ChatIdentity
from tocsin.config import Settings
from tocsin.definitions.models import Severity

VendorName = Literal["slack", "mattermost", "matrix"]
BaseUrl = Annotated[
    str,
    Field(
        max_length=2048,
        description="Slack: empty for https://slack.com/api/; Mattermost: the server's "
        "address; Matrix: the homeserver's client URL",
    ),
]
Team = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Slack: the workspace id (T0123ABCD); Mattermost: the team id; Matrix: "
        "the server name (example.org)",
    ),
]
BotUser = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Slack: the bot's user id (U0123ABCD); Mattermost: the bot account's user "
        "id; Matrix: the bot's full id (@tocsin:example.org)",
    ),
]
Naming = Annotated[
    str,
    Field(
        max_length=connections.NAMING_MAX,
        description="How an incident's channel is named: {number} or {reference}, and "
        "optionally {title}, {date}",
    ),
]
ArchiveMinutes = Annotated[
    int,
    Field(
        ge=0,
        le=connections.ARCHIVE_MAX_MINUTES,
        description="Minutes after an incident closes before its channel is archived",
    ),
]
AnnounceChannel = Annotated[
    str, Field(max_length=255, description="The channel id new incidents are announced in")
]
# A severity by id, or by name ("SEV1"); a boolean is neither.
SeverityRef = (
    Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(not_a_boolean)]
    | Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
)
Severities = Annotated[
    list[SeverityRef],
    Field(
        max_length=100,
        description="The severities whose incidents get a channel, by id or name (SEV1)",
    ),
]
Secret = Annotated[str, Field(max_length=connections.SECRET_MAX, pattern=NO_NUL)]


class ChatSecretsIn(Strict):
    """The connection's credentials; each vendor takes its own (others are a 422). Empty or
    left out: kept when editing; generated when Tocsin can make it."""

    bot_token: Secret = Field(default="", description="Slack, Mattermost: the bot's token")
    signing_secret: Secret = Field(default="", description="Slack: the app's signing secret")
    command_token: Secret = Field(default="", description="Mattermost: the slash command's token")
    action_secret: Secret = Field(
        default="", description="Mattermost: signs Tocsin's buttons (generated when empty)"
    )
    as_token: Secret = Field(
        default="", description="Matrix: the appservice token (generated when empty)"
    )
    hs_token: Secret = Field(
        default="", description="Matrix: the homeserver's token (generated when empty)"
    )


class ChatConnectionIn(Strict):
    name: Name
    vendor: VendorName
    base_url: BaseUrl = ""
    team: Team
    bot_user_id: BotUser
    enabled: bool = True
    channel_severities: Severities = []
    naming: Naming = "inc-{number}-{title}"
    archive_after_minutes: ArchiveMinutes = 1440
    announce_channel: AnnounceChannel = ""
    secrets: ChatSecretsIn = Field(default_factory=ChatSecretsIn)


class ChatConnectionPatch(Strict):
    name: Name = omittable()
    base_url: BaseUrl = omittable()
    team: Team = omittable()
    bot_user_id: BotUser = omittable()
    enabled: bool = omittable()
    channel_severities: Severities = omittable()
    naming: Naming = omittable()
    archive_after_minutes: ArchiveMinutes = omittable()
    announce_channel: AnnounceChannel = omittable()
    secrets: ChatSecretsIn = omittable()


class ChatConnectionOut(BaseModel):
    id: int
    name: str
    vendor: VendorName
    label: str
    base_url: str
    team: str
    bot_user_id: str
    enabled: bool
    channel_severity_ids: list[int]
    channel_severities: list[str] = Field(description="The same severities, by name")
    naming: str
    archive_after_minutes: int
    announce_channel: str
    secrets_set: list[str] = Field(description="Which credentials are stored (never values)")
    inbound_urls: dict[str, str] = Field(
        description="What to paste into the chat service, by purpose: Slack's commands, "
        "interactivity and events URLs; Mattermost's commands, actions and dialogs; Matrix's "
        "appservice URL (in the registration file)"
    )
    created_at: Timestamp
    updated_at: Timestamp


def service_data(body: ChatConnectionIn | ChatConnectionPatch) -> dict[str, object]:
    """A request body as the service's data: the fields sent, with the secrets sent."""
    data = body.model_dump(exclude_unset=True)
    if "secrets" in data:
        data["secrets"] = {k: v for k, v in data["secrets"].items() if v}
    return data


def connection_out(
    db: Session, connection: ChatConnection, settings: Settings
) -> ChatConnectionOut:
    wanted = select(Severity.id, Severity.name).where(
        Severity.id.in_(connection.channel_severity_ids)
    )
    names = {i: n for i, n in db.execute(wanted)}
    return ChatConnectionOut(
        id=connection.id,
        name=connection.name,
        vendor=connection.vendor,
        label=connections.VENDORS[connection.vendor].label,
        base_url=connection.base_url,
        team=connection.team,
        bot_user_id=connection.bot_user_id,
        enabled=connection.enabled,
        channel_severity_ids=list(connection.channel_severity_ids),
        channel_severities=[names[i] for i in connection.channel_severity_ids if i in names],
        naming=connection.naming,
        archive_after_minutes=connection.archive_after_minutes,
        announce_channel=connection.announce_channel,
        secrets_set=connections.secrets_set(connection, settings),
        inbound_urls=connections.inbound_urls(connection, settings.public_url()),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


class ChatLinkOut(BaseModel):
    connection_id: int
    connection_name: str
    vendor: VendorName
    chat_user_id: str
    via: Literal["email", "link"] = Field(
        description="email: matched by the chat service's verified email; link: a link the "
        "person opened signed in"
    )
    linked_at: Timestamp


def link_out(db: Session, identity: ChatIdentity) -> ChatLinkOut:
    connection = connections.get_connection(db, identity.connection_id)
    return ChatLinkOut(
        connection_id=connection.id,
        connection_name=connection.name,
        vendor=connection.vendor,
        chat_user_id=identity.chat_user_id,
        via=identity.via,
        linked_at=identity.linked_at,
    )
