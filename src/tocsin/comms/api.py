"""JSON routes: the communication channel registry (admins write, everyone reads), a
service's followers, an incident's stakeholders and communication panel, posting by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import Page, window
from tocsin.comms import followers, stakeholders
from tocsin.comms import service as registry
from tocsin.comms.panel import panel_context
from tocsin.comms.schemas import (
    ChannelCreated,
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    CommunicationOut,
    DeliveryOut,
    FollowerIn,
    FollowerOut,
    MarkPostedIn,
    SecretOut,
    StakeholderIn,
    StakeholderOut,
    channel_out,
    channel_status_out,
    delivery_out,
    follower_out,
    stakeholder_out,
)
from tocsin.comms.sending import mark_posted, send_latest
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.incidents import queries

router = APIRouter(prefix="/api/v1", tags=["communication"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


# --- the registry -----------------------------------------------------------------------


@router.get("/comms-channels", response_model=Page[ChannelOut])
def list_channels(db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0) -> dict:
    """The communication channel registry, in its order."""
    return window([channel_out(c) for c in registry.list_channels(db)], limit, offset)


@router.post("/comms-channels", status_code=201, response_model=ChannelCreated)
def create_channel(
    body: ChannelIn, db: DbSession, admin: Admin, settings: AppSettings
) -> ChannelCreated:
    """Add a channel. A webhook channel's signing secret is in this answer only."""
    channel, secret = registry.create_channel(db, body.model_dump(), settings=settings)
    return channel_out(channel, secret)


@router.get("/comms-channels/{channel_id}", response_model=ChannelOut)
def get_channel(channel_id: PathId, db: DbSession, user: CurrentUser) -> ChannelOut:
    return channel_out(registry.get_channel(db, channel_id))


@router.patch("/comms-channels/{channel_id}", response_model=ChannelOut)
def update_channel(
    channel_id: PathId, body: ChannelPatch, db: DbSession, admin: Admin, settings: AppSettings
) -> ChannelOut:
    channel = registry.get_channel(db, channel_id)
    changes = body.model_dump(exclude_unset=True)
    return channel_out(registry.update_channel(db, channel, changes, settings=settings))


@router.delete("/comms-channels/{channel_id}", status_code=204)
def delete_channel(channel_id: PathId, db: DbSession, admin: Admin) -> Response:
    registry.delete_channel(db, registry.get_channel(db, channel_id))
    return Response(status_code=204)


@router.post("/comms-channels/{channel_id}/rotate-secret", response_model=SecretOut)
def rotate_secret(
    channel_id: PathId, db: DbSession, admin: Admin, settings: AppSettings
) -> SecretOut:
    """A new webhook signing secret, shown this once; the old one stops matching."""
    channel = registry.get_channel(db, channel_id)
    return SecretOut(signing_secret=registry.rotate_secret(db, channel, settings=settings))


# --- a service's followers ------------------------------------------------------------


@router.get("/services/{service_id}/followers", response_model=Page[FollowerOut])
def list_followers(
    service_id: PathId, db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0
) -> dict:
    """The people and teams who follow the service: they become stakeholders of its
    incidents. People first, then teams, by name."""
    service = catalog.get_service(db, service_id)
    rows = followers.followers_of(db, service)
    return window([follower_out(f) for f in rows], limit, offset)


@router.put("/services/{service_id}/followers/me", response_model=FollowerOut)
def follow_service(service_id: PathId, db: DbSession, user: CurrentUser) -> FollowerOut:
    """Follow the service yourself (again: nothing changes)."""
    service = catalog.get_service(db, service_id)
    return follower_out(followers.follow_service(db, service, by=user))


@router.delete("/services/{service_id}/followers/me", status_code=204)
def unfollow_service(service_id: PathId, db: DbSession, user: CurrentUser) -> Response:
    """Stop following the service (incidents you already follow keep you)."""
    service = catalog.get_service(db, service_id)
    followers.unfollow_service(db, service, by=user)
    return Response(status_code=204)


@router.post("/services/{service_id}/followers", status_code=201, response_model=FollowerOut)
def add_follower(
    service_id: PathId, body: FollowerIn, db: DbSession, user: Responder
) -> FollowerOut:
    """Make a person (`user_id`) or a team (`team_id`) follow the service; 409 if they do."""
    service = catalog.get_service(db, service_id)
    row = followers.add_follower(db, service, by=user, user_id=body.user_id, team_id=body.team_id)
    return follower_out(row)


@router.delete("/services/{service_id}/followers/{follower_id}", status_code=204)
def remove_follower(
    service_id: PathId, follower_id: PathId, db: DbSession, user: CurrentUser
) -> Response:
    """Remove a follower: yourself, or anyone as a responder."""
    service = catalog.get_service(db, service_id)
    followers.remove_follower(db, service, follower_id, by=user)
    return Response(status_code=204)


# --- an incident ------------------------------------------------------------------------


@router.get("/incidents/{ref}/communication", response_model=CommunicationOut)
def communication(ref: Ref, db: DbSession, user: CurrentUser) -> CommunicationOut:
    """The channels that apply (who may post, last and next update, overdue), the
    stakeholders, and every delivery with its result."""
    incident = queries.get_incident(db, ref, viewer=user)
    panel = panel_context(db, incident, user)
    return CommunicationOut(
        channels=[channel_status_out(row) for row in panel["channels"]],
        stakeholders=[stakeholder_out(s) for s in panel["stakeholders"]],
        following=panel["mine"] is not None,
        deliveries=[delivery_out(d) for d in panel["deliveries"]],
    )


@router.get("/incidents/{ref}/stakeholders", response_model=list[StakeholderOut])
def list_stakeholders(ref: Ref, db: DbSession, user: CurrentUser) -> list[StakeholderOut]:
    incident = queries.get_incident(db, ref, viewer=user)
    return [stakeholder_out(s) for s in stakeholders.stakeholders_of(db, incident)]


@router.post("/incidents/{ref}/stakeholders", status_code=201, response_model=StakeholderOut)
def add_stakeholder(
    ref: Ref, body: StakeholderIn, db: DbSession, user: Responder
) -> StakeholderOut:
    """Add a person (`user_id`) or a team (`team_id`); 409 if already there."""
    incident = queries.get_incident(db, ref, viewer=user)
    row = stakeholders.add(db, incident, by=user, user_id=body.user_id, team_id=body.team_id)
    return stakeholder_out(row)


@router.delete("/incidents/{ref}/stakeholders/{stakeholder_id}", status_code=204)
def remove_stakeholder(
    ref: Ref, stakeholder_id: PathId, db: DbSession, user: CurrentUser
) -> Response:
    """Remove a stakeholder: yourself, or anyone when you are a responder."""
    incident = queries.get_incident(db, ref, viewer=user)
    stakeholders.remove(db, incident, stakeholder_id, by=user)
    return Response(status_code=204)


@router.put("/incidents/{ref}/follow", response_model=StakeholderOut)
def follow(ref: Ref, db: DbSession, user: CurrentUser) -> StakeholderOut:
    """Follow the incident: its internal updates reach you (again: nothing changes)."""
    incident = queries.get_incident(db, ref, viewer=user)
    return stakeholder_out(stakeholders.follow(db, incident, by=user))


@router.delete("/incidents/{ref}/follow", status_code=204)
def unfollow(ref: Ref, db: DbSession, user: CurrentUser) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    stakeholders.unfollow(db, incident, by=user)
    return Response(status_code=204)


@router.post(
    "/incidents/{ref}/communication/{channel_id}/posted",
    status_code=201,
    response_model=DeliveryOut,
)
def posted(
    ref: Ref, channel_id: PathId, body: MarkPostedIn, db: DbSession, user: Responder
) -> DeliveryOut:
    """Say you posted to the channel yourself (a briefing, a call): its next update is due a
    cadence from now. 403 unless you may post there."""
    incident = queries.get_incident(db, ref, viewer=user)
    channel = registry.get_channel(db, channel_id)
    return delivery_out(mark_posted(db, incident, channel, by=user, note=body.note))


@router.post(
    "/incidents/{ref}/communication/{channel_id}/send",
    status_code=202,
    response_model=DeliveryOut,
)
def send(ref: Ref, channel_id: PathId, db: DbSession, user: Responder) -> DeliveryOut:
    """Send the latest update of the channel's audience there now (channels that are posted
    to on request). 403 unless you may post there; 409 if it already went there."""
    incident = queries.get_incident(db, ref, viewer=user)
    channel = registry.get_channel(db, channel_id)
    return delivery_out(send_latest(db, incident, channel, by=user))
