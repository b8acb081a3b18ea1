"""What Mattermost's REST API v4 accepts on the endpoints Tocsin calls, as the fake server
checks every request against it.

Written from Mattermost's published OpenAPI description, repository mattermost/mattermost:
- api/v4/source/channels.yaml at 003a6338e610a19a11c49c3da64832306033b4c1 (CreateChannel,
  CreateDirectChannel, AddChannelMember, DeleteChannel);
- api/v4/source/posts.yaml at 0b06deb6f3602624e2aba062a5f689f13dcf4c19 (CreatePost,
  CreatePostEphemeral, GetPost, PatchPost, PinPost, GetPostsForChannel);
- api/v4/source/actions.yaml at 04c8ed4d88475fbe749696ab1fdbdda3eda38782
  (OpenInteractiveDialog).
- api/v4/source/definitions.yaml at 013f83cd94d50f786bbabf4997052f702f90327a: the answers'
  shapes (Channel, Post with metadata.reactions, Reaction with emoji_name and create_at,
  User with email_verified, AppError).
GetUser (`GET /users/{user_id}`) and GetUserByEmail (`GET /users/email/{email}`), from
users.yaml, were not read from the spec itself: their paths and their answer (a User) are
as Mattermost's API reference documents them. The attachment and dialog element rules
follow Mattermost's interactive messages and dialogs documentation the spec links to.

Two places where the spec and the server differ, and the server wins:
- PatchPost's `props` is described as a string; the server decodes a JSON object (the same
  property bag as CreatePost's), and a string would be refused.
- CreatePostEphemeral lists only `channel_id` and `message` in `post`; the server decodes a
  whole Post, so `props` (the attachments) is read too. It is allowed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "object": dict,
    "array": list,
}


@dataclass(frozen=True)
class Obj:
    """A JSON object: its fields' types, which are required, nested objects' own rules.
    Fields not listed are violations (the spec lists every one Tocsin may send)."""

    fields: dict[str, str]
    required: frozenset[str] = frozenset()
    nested: dict[str, Obj] = field(default_factory=dict)


@dataclass(frozen=True)
class Arr:
    """A JSON array of `items`, with its length bounds."""

    items: str
    min: int = 0
    max: int = 1_000_000


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: re.Pattern[str]
    name: str  # the spec's operationId
    body: Obj | Arr | None = None
    query: frozenset[str] = frozenset()


ID = r"[a-z0-9]{26}"

POST_PROPS = "object"
POST = Obj(
    {
        "channel_id": "string",
        "message": "string",
        "root_id": "string",
        "file_ids": "array",
        "props": POST_PROPS,
        "metadata": "object",
    },
    frozenset({"channel_id", "message"}),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        re.compile(r"/api/v4/channels"),
        "CreateChannel",
        Obj(
            {
                "team_id": "string",
                "name": "string",
                "display_name": "string",
                "purpose": "string",
                "header": "string",
                "type": "string",
                "managed_category_name": "string",
                "default_category_name": "string",
            },
            frozenset({"name", "display_name", "type", "team_id"}),
        ),
    ),
    Endpoint(
        "POST", re.compile(r"/api/v4/channels/direct"), "CreateDirectChannel", Arr("string", 2, 2)
    ),
    Endpoint(
        "POST",
        re.compile(rf"/api/v4/channels/(?P<channel>{ID})/members"),
        "AddChannelMember",
        Obj({"user_id": "string", "user_ids": "array", "post_root_id": "string"}),
    ),
    Endpoint("DELETE", re.compile(rf"/api/v4/channels/(?P<channel>{ID})"), "DeleteChannel"),
    Endpoint(
        "GET",
        re.compile(rf"/api/v4/channels/(?P<channel>{ID})/posts"),
        "GetPostsForChannel",
        query=frozenset(
            {"page", "per_page", "since", "before", "after", "include_deleted", "type"}
        ),
    ),
    Endpoint("POST", re.compile(r"/api/v4/posts"), "CreatePost", POST),
    Endpoint(
        "POST",
        re.compile(r"/api/v4/posts/ephemeral"),
        "CreatePostEphemeral",
        Obj(
            {"user_id": "string", "post": "object"},
            frozenset({"user_id", "post"}),
            {
                "post": Obj(
                    {"channel_id": "string", "message": "string", "props": POST_PROPS},
                    frozenset({"channel_id", "message"}),
                )
            },
        ),
    ),
    Endpoint(
        "GET",
        re.compile(rf"/api/v4/posts/(?P<post>{ID})"),
        "GetPost",
        query=frozenset({"include_deleted"}),
    ),
    Endpoint(
        "PUT",
        re.compile(rf"/api/v4/posts/(?P<post>{ID})/patch"),
        "PatchPost",
        Obj(
            {
                "is_pinned": "boolean",
                "message": "string",
                "file_ids": "array",
                "has_reactions": "boolean",
                "props": POST_PROPS,
            }
        ),
    ),
    Endpoint("POST", re.compile(rf"/api/v4/posts/(?P<post>{ID})/pin"), "PinPost"),
    Endpoint(
        "POST",
        re.compile(r"/api/v4/actions/dialogs/open"),
        "OpenInteractiveDialog",
        Obj(
            {"trigger_id": "string", "url": "string", "dialog": "object"},
            frozenset({"trigger_id", "url", "dialog"}),
            {
                "dialog": Obj(
                    {
                        "callback_id": "string",
                        "title": "string",
                        "introduction_text": "string",
                        "elements": "array",
                        "submit_label": "string",
                        "notify_on_cancel": "boolean",
                        "state": "string",
                    },
                    frozenset({"title", "elements"}),
                )
            },
        ),
    ),
    Endpoint("GET", re.compile(rf"/api/v4/users/(?P<user>{ID})"), "GetUser"),
    Endpoint("GET", re.compile(r"/api/v4/users/email/(?P<email>[^/]+)"), "GetUserByEmail"),
)

# A dialog element (interactive dialogs documentation): its fields and limits.
ELEMENT = Obj(
    {
        "display_name": "string",
        "name": "string",
        "type": "string",
        "subtype": "string",
        "default": "string",
        "placeholder": "string",
        "help_text": "string",
        "optional": "boolean",
        "min_length": "integer",
        "max_length": "integer",
        "data_source": "string",
        "options": "array",
        "multiselect": "boolean",
    },
    frozenset({"display_name", "name", "type"}),
)
ELEMENT_TYPES = frozenset({"text", "textarea", "select", "radio", "bool"})
ELEMENT_LIMITS = {"display_name": 24, "name": 300, "help_text": 150, "placeholder": 150}
DIALOG_TITLE_MAX = 24

# A message attachment and its actions (interactive messages documentation).
ATTACHMENT = Obj(
    {
        "fallback": "string",
        "color": "string",
        "pretext": "string",
        "text": "string",
        "author_name": "string",
        "author_link": "string",
        "author_icon": "string",
        "title": "string",
        "title_link": "string",
        "fields": "array",
        "image_url": "string",
        "thumb_url": "string",
        "footer": "string",
        "footer_icon": "string",
        "actions": "array",
    }
)
FIELD = Obj({"title": "string", "value": "string", "short": "boolean"})
ACTION = Obj(
    {
        "id": "string",
        "type": "string",
        "name": "string",
        "style": "string",
        "integration": "object",
        "data_source": "string",
        "options": "array",
        "default_option": "string",
        "disabled": "boolean",
    },
    frozenset({"id", "name", "integration"}),
    {"integration": Obj({"url": "string", "context": "object"}, frozenset({"url"}))},
)
ACTION_OPTION = Obj({"text": "string", "value": "string"}, frozenset({"text", "value"}))
ACTION_TYPES = frozenset({"button", "select"})
ACTION_ID = re.compile(r"[A-Za-z0-9]+")
ACTION_STYLES = frozenset({"default", "primary", "success", "good", "warning", "danger"})
CHANNEL_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
CHANNEL_TYPES = frozenset({"O", "P"})
DISPLAY_NAME_MAX = 64


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint a request is for, and its path parameters."""
    for endpoint in ENDPOINTS:
        found = endpoint.path.fullmatch(path)
        if endpoint.method == method and found:
            return endpoint, found.groupdict()
    return None


def check(rules: Obj | Arr, value: Any, where: str) -> list[str]:
    """Every way `value` breaks `rules`, each naming where."""
    if isinstance(rules, Arr):
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        problems = [
            f"{where}[{i}]: not a {rules.items}"
            for i, item in enumerate(value)
            if not _is(item, rules.items)
        ]
        if not rules.min <= len(value) <= rules.max:
            problems.append(f"{where}: {len(value)} items, not {rules.min} to {rules.max}")
        return problems
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}.{name}: required" for name in rules.required if name not in value]
    for name, item in value.items():
        kind = rules.fields.get(name)
        if kind is None:
            problems.append(f"{where}.{name}: not a field of this request")
        elif not _is(item, kind):
            problems.append(f"{where}.{name}: not a {kind}")
        elif name in rules.nested:
            problems.extend(check(rules.nested[name], item, f"{where}.{name}"))
    return problems


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES[kind])
