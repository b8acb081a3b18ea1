"""The Slack Web API methods Tocsin calls, described compactly for the fake to check every
request against.

Read from the Slack Web API OpenAPI description, `web-api/slack_web_openapi_v2.json` in
github.com/slackapi/slack-api-specs (info.version 1.7.0, commit bc08db4, 2021-09-07): each
method's arguments and their types, which are required, and the error words its failure
answers may carry. Two things are as Slack documents the wire rather than as that file says:
every method is called with POST (Slack takes POST for all of them, and slack_sdk sends
nothing else, where the file lists GET for conversations.history, users.info,
users.lookupByEmail and views.open), and the token always travels as `Authorization: Bearer`.
The body is form-encoded or JSON as slack_sdk sends each method; a form value is a string,
a boolean in a form is "0"/"1"/"true"/"false". Block Kit limits are Slack's published ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "boolean", "number", "integer", "blocks", "view", "list"]


@dataclass(frozen=True)
class Method:
    name: str
    body: Literal["form", "json"]
    required: Mapping[str, Kind]
    optional: Mapping[str, Kind]
    errors: frozenset[str]


COMMON_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "missing_scope", "invalid_arg_name",
     "invalid_form_data", "invalid_json", "request_timeout", "ratelimited"}
)  # fmt: skip


def _method(
    name: str,
    body: Literal["form", "json"],
    required: Mapping[str, Kind],
    optional: Mapping[str, Kind],
    errors: str,
) -> Method:
    return Method(name, body, required, optional, COMMON_ERRORS | frozenset(errors.split()))


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        _method(
            "conversations.create", "form", {"name": "string"},
            {"is_private": "boolean", "team_id": "string"},
            "name_taken restricted_action no_channel invalid_name_required "
            "invalid_name_punctuation invalid_name_maxlength invalid_name_specials invalid_name",
        ),
        _method(
            "conversations.setTopic", "form", {"channel": "string", "topic": "string"}, {},
            "channel_not_found not_in_channel is_archived too_long user_is_restricted",
        ),
        _method(
            "conversations.invite", "form", {"channel": "string", "users": "string"},
            {"force": "boolean"},
            "channel_not_found user_not_found cant_invite_self not_in_channel "
            "already_in_channel is_archived cant_invite too_many_users",
        ),
        _method(
            "chat.postMessage", "json", {"channel": "string"},
            {"text": "string", "blocks": "blocks", "thread_ts": "string", "mrkdwn": "boolean",
             "unfurl_links": "boolean", "unfurl_media": "boolean"},
            "channel_not_found not_in_channel is_archived msg_too_long no_text invalid_blocks",
        ),
        _method(
            "chat.update", "json", {"channel": "string", "ts": "string"},
            {"text": "string", "blocks": "blocks"},
            "message_not_found cant_update_message channel_not_found edit_window_closed "
            "msg_too_long no_text invalid_blocks is_archived",
        ),
        _method(
            "chat.postEphemeral", "json", {"channel": "string", "user": "string"},
            {"text": "string", "blocks": "blocks", "thread_ts": "string"},
            "channel_not_found is_archived msg_too_long no_text user_not_in_channel "
            "not_in_channel invalid_blocks",
        ),
        _method(
            "pins.add", "form", {"channel": "string"}, {"timestamp": "string"},
            "bad_timestamp message_not_found channel_not_found no_item_specified "
            "already_pinned permission_denied not_pinnable",
        ),
        _method(
            "conversations.archive", "form", {"channel": "string"}, {},
            "channel_not_found already_archived cant_archive_general restricted_action "
            "not_in_channel",
        ),
        _method(
            "conversations.open", "form", {},
            {"channel": "string", "users": "string", "return_im": "boolean"},
            "user_not_found user_not_visible user_disabled users_list_not_supplied "
            "not_enough_users too_many_users channel_not_found",
        ),
        _method(
            "views.open", "json", {"trigger_id": "string", "view": "view"},
            {"interactivity_pointer": "string"},
            "expired_trigger_id invalid_trigger_id exchanged_trigger_id duplicate_external_id "
            "invalid_arguments view_too_large",
        ),
        _method(
            "conversations.history", "form", {"channel": "string"},
            {"latest": "number", "oldest": "number", "inclusive": "boolean",
             "limit": "integer", "cursor": "string"},
            "channel_not_found not_in_channel invalid_ts_latest invalid_ts_oldest",
        ),
        _method(
            "users.info", "form", {"user": "string"}, {"include_locale": "boolean"},
            "user_not_found user_not_visible",
        ),
        _method(
            "users.lookupByEmail", "form", {"email": "string"}, {},
            "users_not_found enterprise_is_restricted no_permission",
        ),
    )
}  # fmt: skip

CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250
INVITE_MAX = 1_000
BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
SECTION_TEXT_MAX = 3_000
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2_000
ACTIONS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2_000
ACTION_ID_MAX = 255
VIEW_TITLE_MAX = 24
CALLBACK_ID_MAX = 255
METADATA_MAX = 3_000
OPTIONS_MAX = 100
SELECT_OPTIONS_MAX = 100
SELECT_PLACEHOLDER_MAX = 150
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
TEXT_MAX = 40_000
MESSAGE_BLOCK_TYPES = {"section", "actions", "context", "header", "divider", "image"}
INPUT_ELEMENTS = {"plain_text_input", "static_select", "multi_static_select"}


def _typed(kind: Kind, value: Any, body: str) -> bool:
    """Whether `value` has the type `kind` as sent in a `body` ("form" or "json")."""
    if body == "form":
        if not isinstance(value, str):
            return False
        if kind == "boolean":
            return value in ("0", "1", "true", "false")
        if kind == "number":
            try:
                float(value)
            except ValueError:
                return False
            return True
        if kind == "integer":
            return value.isdigit()
        if kind in ("blocks", "view"):
            try:
                json.loads(value)
            except ValueError:
                return False
        return True
    return {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "blocks": isinstance(value, list | str),
        "view": isinstance(value, dict | str),
        "list": isinstance(value, list),
    }[kind]


def check_arguments(method: Method, arguments: Mapping[str, Any]) -> list[str]:
    """What is wrong with a call's arguments: missing, unknown or mistyped ones."""
    problems = [f"{method.name}: {name} is required" for name in method.required if
                name not in arguments]  # fmt: skip
    allowed = {**method.required, **method.optional}
    for name, value in arguments.items():
        if name not in allowed:
            problems.append(f"{method.name}: unknown argument {name}")
        elif not _typed(allowed[name], value, method.body):
            problems.append(f"{method.name}: {name} is not a {allowed[name]}: {value!r}")
    return problems


def _select(where: str, element: dict[str, Any]) -> list[str]:
    """A static select menu in a message's actions block (Block Kit's element reference)."""
    problems: list[str] = []
    known = {"type", "action_id", "placeholder", "options", "initial_option", "confirm",
             "focus_on_load"}  # fmt: skip
    if set(element) - known:
        problems.append(f"{where}: unknown select fields {sorted(set(element) - known)}")
    if len(str(element.get("action_id", ""))) > ACTION_ID_MAX:
        problems.append(f"{where}: action_id too long")
    if "placeholder" in element:
        _text(problems, where, element["placeholder"], SELECT_PLACEHOLDER_MAX, {"plain_text"})
    options = element.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= SELECT_OPTIONS_MAX:
        problems.append(f"{where}: a static select has 1 to {SELECT_OPTIONS_MAX} options")
        return problems
    for option in options:
        _text(problems, where, option.get("text"), OPTION_TEXT_MAX, {"plain_text"})
        if not 1 <= len(str(option.get("value", ""))) <= OPTION_VALUE_MAX:
            problems.append(f"{where}: an option's value is 1 to {OPTION_VALUE_MAX} characters")
    return problems


def _text(problems: list[str], where: str, text: Any, limit: int, kinds: set[str]) -> None:
    if not isinstance(text, dict) or text.get("type") not in kinds:
        problems.append(f"{where}: a text object of type {sorted(kinds)} is required")
    elif not isinstance(text.get("text"), str) or not 1 <= len(text["text"]) <= limit:
        problems.append(f"{where}: text must have 1 to {limit} characters")


def check_blocks(blocks: Any) -> list[str]:
    """What in a message's blocks Slack would refuse (invalid_blocks)."""
    if not isinstance(blocks, list) or len(blocks) > BLOCKS_MAX:
        return [f"blocks must be a list of at most {BLOCKS_MAX}"]
    problems: list[str] = []
    for index, block in enumerate(blocks):
        where = f"block {index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in MESSAGE_BLOCK_TYPES:
            problems.append(f"{where}: unknown block type {kind!r}")
            continue
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                _text(problems, where, block["text"], SECTION_TEXT_MAX, {"mrkdwn", "plain_text"})
            fields = block.get("fields", [])
            if len(fields) > FIELDS_MAX:
                problems.append(f"{where}: more than {FIELDS_MAX} fields")
            for item in fields:
                _text(problems, where, item, FIELD_TEXT_MAX, {"mrkdwn", "plain_text"})
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= ACTIONS_MAX:
                problems.append(f"{where}: 1 to {ACTIONS_MAX} elements")
            ids = [e.get("action_id") for e in elements]
            if len(set(ids)) != len(ids):
                problems.append(f"{where}: action_ids repeat: {ids}")
            for element in elements:
                if element.get("type") == "static_select":
                    problems += _select(where, element)
                    continue
                if element.get("type") != "button":
                    problems.append(f"{where}: unexpected element {element.get('type')!r}")
                    continue
                _text(problems, where, element.get("text"), BUTTON_TEXT_MAX, {"plain_text"})
                if len(str(element.get("action_id", ""))) > ACTION_ID_MAX:
                    problems.append(f"{where}: action_id too long")
                if len(str(element.get("value", ""))) > BUTTON_VALUE_MAX:
                    problems.append(f"{where}: value too long")
                if element.get("style") not in (None, "primary", "danger"):
                    problems.append(f"{where}: style {element.get('style')!r}")
        elif kind == "context":
            for element in block.get("elements", []):
                _text(problems, where, element, SECTION_TEXT_MAX, {"mrkdwn", "plain_text"})
    return problems


def _options(problems: list[str], where: str, options: Any) -> None:
    if not isinstance(options, list) or not 1 <= len(options) <= OPTIONS_MAX:
        problems.append(f"{where}: 1 to {OPTIONS_MAX} options")
        return
    for option in options:
        _text(problems, where, option.get("text"), OPTION_TEXT_MAX, {"plain_text"})
        if not isinstance(option.get("value"), str) or len(option["value"]) > OPTION_VALUE_MAX:
            problems.append(f"{where}: an option's value must be a string of ≤150")


def check_view(view: Any) -> list[str]:
    """What in a modal view Slack would refuse (invalid_arguments)."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["view must be an object of type modal"]
    problems: list[str] = []
    _text(problems, "view title", view.get("title"), VIEW_TITLE_MAX, {"plain_text"})
    if "submit" in view:
        _text(problems, "view submit", view["submit"], VIEW_TITLE_MAX, {"plain_text"})
    if "close" in view:
        _text(problems, "view close", view["close"], VIEW_TITLE_MAX, {"plain_text"})
    if len(str(view.get("callback_id", ""))) > CALLBACK_ID_MAX:
        problems.append("view callback_id too long")
    if len(str(view.get("private_metadata", ""))) > METADATA_MAX:
        problems.append("view private_metadata too long")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > VIEW_BLOCKS_MAX:
        return [*problems, f"view blocks must be a list of at most {VIEW_BLOCKS_MAX}"]
    block_ids = [b.get("block_id") for b in blocks]
    if len(set(block_ids)) != len(block_ids):
        problems.append(f"view block_ids repeat: {block_ids}")
    for index, block in enumerate(blocks):
        where = f"view block {index}"
        if block.get("type") != "input":
            problems.append(f"{where}: only input blocks are expected")
            continue
        _text(problems, where, block.get("label"), FIELD_TEXT_MAX, {"plain_text"})
        element = block.get("element") or {}
        kind = element.get("type")
        if kind not in INPUT_ELEMENTS:
            problems.append(f"{where}: element type {kind!r}")
        elif kind != "plain_text_input":
            _options(problems, where, element.get("options"))
    return problems
