"""A workflow's actions: one pydantic model per kind, told apart by `kind` (a discriminated
union). `parse_actions` turns stored or submitted JSON into them, naming the action's index
and field when something is wrong; `describe` says in words what an action would do."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from tocsin import validation as v
from tocsin.errors import ValidationFailed

MAX_ACTIONS = 50
# An id the database can hold (a larger one would fail the lookup on PostgreSQL).
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddRunbook(_Action):
    kind: Literal["add_runbook"]
    runbook_id: Id


class AssignRole(_Action):
    """Give `role` (its slug) to a person (`user_id`), to whoever is on call in a schedule
    (`schedule_id`), or, with neither, to the roster's primary."""

    kind: Literal["assign_role"]
    role: str = Field(min_length=1, max_length=64)
    user_id: Id | None = None
    schedule_id: Id | None = None


class Page(_Action):
    """Page a person, whoever is on call in a schedule, a team's members, the IC from the
    roster (primary and backup at once), or the incident's services' escalation policies."""

    kind: Literal["page"]
    target: Literal["person", "schedule", "team", "ic", "service_policy"]
    user_id: Id | None = None
    schedule_id: Id | None = None
    team_id: Id | None = None
    urgency: Literal["high", "low"] = "high"
    message: str = Field(default="", max_length=1000)


class PostInternalUpdate(_Action):
    kind: Literal["post_internal_update"]
    body: str = Field(min_length=1, max_length=5000)


class PostToChannel(_Action):
    """Post `message` to a channel of the comms registry; without `channel_id`, to every
    internal channel that the incident's updates reach automatically."""

    kind: Literal["post_to_channel"]
    channel_id: Id | None = None
    message: str = Field(min_length=1, max_length=5000)


class NotifyStakeholders(_Action):
    """Tell the incident's stakeholders `message` on their quiet contact methods, without
    posting an update (the incident's status does not move)."""

    kind: Literal["notify_stakeholders"]
    message: str = Field(min_length=1, max_length=5000)


class SetSeverity(_Action):
    kind: Literal["set_severity"]
    severity: str = Field(min_length=1, max_length=32)  # by name: "SEV1"


class SetPriority(_Action):
    kind: Literal["set_priority"]
    priority: str = Field(min_length=1, max_length=32)  # by name: "P1"


class SetField(_Action):
    kind: Literal["set_field"]
    key: str = Field(min_length=1, max_length=64)
    value: Any


class CreateActionItem(_Action):
    kind: Literal["create_action_item"]
    title: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=5000)


class StartPostmortem(_Action):
    kind: Literal["start_postmortem"]


class SendEmail(_Action):
    kind: Literal["send_email"]
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=5000)


class CallWebhook(_Action):
    kind: Literal["call_webhook"]
    url: str = Field(min_length=8, max_length=2000)


class Wait(_Action):
    """Run the actions after this one `minutes` later, as another job."""

    kind: Literal["wait"]
    minutes: int = Field(ge=1, le=7 * 24 * 60)


Action = Annotated[
    AddRunbook
    | AssignRole
    | Page
    | PostInternalUpdate
    | PostToChannel
    | NotifyStakeholders
    | SetSeverity
    | SetPriority
    | SetField
    | CreateActionItem
    | StartPostmortem
    | SendEmail
    | CallWebhook
    | Wait,
    Field(discriminator="kind"),
]


class _One(BaseModel):
    """Holds one action, to validate it against the union."""

    action: Action


def parse_action(raw: object, index: int) -> Action:
    """One action; ValidationFailed names it (`actions[2].minutes`) and says what is wrong."""
    try:
        action = _One.model_validate({"action": raw}).action
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:] if p not in _KINDS)
        field = f"actions[{index}]" + (f".{where}" if where else "")
        raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None
    if isinstance(action, Page):
        if action.target == "person" and action.user_id is None:
            field = f"actions[{index}].user_id"
            raise ValidationFailed(f"{field}: paging a person needs user_id", field=field)
        if action.target == "schedule" and action.schedule_id is None:
            field = f"actions[{index}].schedule_id"
            raise ValidationFailed(f"{field}: paging a schedule needs schedule_id", field=field)
        if action.target == "team" and action.team_id is None:
            field = f"actions[{index}].team_id"
            raise ValidationFailed(f"{field}: paging a team needs team_id", field=field)
    if isinstance(action, AssignRole) and action.user_id and action.schedule_id:
        field = f"actions[{index}].schedule_id"
        raise ValidationFailed(f"{field}: a person or a schedule, not both", field=field)
    if isinstance(action, SendEmail):
        v.email(action.to, f"actions[{index}].to")
    if isinstance(action, CallWebhook):
        v.url(action.url, f"actions[{index}].url")
    return action


def parse_actions(raw: object) -> list[Action]:
    """Every action of a workflow, in order (see `parse_action`)."""
    if not isinstance(raw, list):
        raise ValidationFailed("actions must be a list", field="actions")
    if len(raw) > MAX_ACTIONS:
        raise ValidationFailed(f"at most {MAX_ACTIONS} actions", field="actions")
    return [parse_action(item, i) for i, item in enumerate(raw)]


def dump(actions: list[Action]) -> list[dict[str, Any]]:
    """The JSON stored for `actions`."""
    return [a.model_dump(mode="json") for a in actions]


_KINDS = {
    "add_runbook",
    "assign_role",
    "page",
    "post_internal_update",
    "post_to_channel",
    "notify_stakeholders",
    "set_severity",
    "set_priority",
    "set_field",
    "create_action_item",
    "start_postmortem",
    "send_email",
    "call_webhook",
    "wait",
}


def describe(action: Action) -> str:
    """What the action would do, in words, without looking anything up."""
    match action:
        case AddRunbook(runbook_id=rid):
            return f"add runbook {rid}"
        case AssignRole(role=role, user_id=None, schedule_id=int(sid)):
            return f"assign role '{role}' to whoever is on call in schedule {sid}"
        case AssignRole(role=role, user_id=None):
            return f"assign role '{role}' from the roster"
        case AssignRole(role=role, user_id=uid):
            return f"assign role '{role}' to user {uid}"
        case Page(target="ic", urgency=u):
            return f"page the IC from the roster (primary and backup), {u} urgency"
        case Page(target="person", user_id=uid, urgency=u):
            return f"page user {uid}, {u} urgency"
        case Page(target="schedule", schedule_id=sid, urgency=u):
            return f"page whoever is on call in schedule {sid}, {u} urgency"
        case Page(target="team", team_id=tid, urgency=u):
            return f"page the members of team {tid}, {u} urgency"
        case Page(urgency=u):
            return f"page the services' escalation policies, {u} urgency"
        case PostInternalUpdate(body=body):
            return f"post an internal update: {body[:80]}"
        case PostToChannel(channel_id=None, message=text):
            return f"post to the incident's internal channels: {text[:80]}"
        case PostToChannel(channel_id=cid, message=text):
            return f"post to channel {cid}: {text[:80]}"
        case NotifyStakeholders(message=text):
            return f"notify the stakeholders: {text[:80]}"
        case SetSeverity(severity=name):
            return f"set the severity to {name}"
        case SetPriority(priority=name):
            return f"set the priority to {name}"
        case SetField(key=key, value=value):
            return f"set field '{key}' to {value!r}"
        case CreateActionItem(title=title):
            return f"create the action item “{title}”"
        case StartPostmortem():
            return "start the postmortem"
        case SendEmail(to=to, subject=subject):
            return f"email {to}: {subject}"
        case CallWebhook(url=url):
            return f"call the webhook {url}"
        case Wait(minutes=m):
            return f"wait {m} minutes"
    return action.kind  # pragma: no cover
