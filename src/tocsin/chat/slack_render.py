"""Slack's rendering of the neutral shapes: a `Message` as Block Kit blocks with a text
fallback, a `Form` as a modal view, and the channel names Slack accepts. Pure functions.

Slack's limits are applied here (texts cut to the length a block allows, fields and
buttons spread over several blocks) so that a long title or many fields never make Slack
refuse a whole message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tocsin.chat.ports import Field, Form, FormField, Message

ACTION_PREFIX = "tocsin:"
# A second button with the same action in one block gets "#2", "#3"…: Slack refuses a
# block whose action_ids repeat, and the receiver drops the mark.
DUPLICATE_MARK = "#"

CHANNEL_NAME_MAX = 80
TEXT_MAX = 40_000  # a message's top-level text
SECTION_TEXT_MAX = 3_000
FIELD_TEXT_MAX = 2_000
FIELDS_PER_SECTION = 10
BUTTONS_PER_BLOCK = 25
BUTTON_LABEL_MAX = 75
BUTTON_VALUE_MAX = 2_000
BLOCKS_MAX = 50
CONTEXT_TEXT_MAX = 3_000
VIEW_TITLE_MAX = 24
VIEW_METADATA_MAX = 3_000
LABEL_MAX = 2_000
OPTION_LABEL_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
INPUT_VALUE_MAX = 3_000


def escape(text: str) -> str:
    """`text` shown literally in mrkdwn: &, < and > as Slack's entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, label: str) -> str:
    # A "|" or ">" would end the URL part of Slack's <url|label>; percent-encoded they
    # reach the browser unchanged.
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe.replace('|', '%7C')}|{escape(label)}>"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limit) or " "}


def fallback_text(message: Message) -> str:
    """The message's top-level `text`: what notifications and screen readers show."""
    parts = [message.title, message.text] if message.title else [message.text]
    return _cut(escape("\n".join(part for part in parts if part)), TEXT_MAX)


def _field_sections(fields: Sequence[Field]) -> Iterator[dict[str, Any]]:
    """Short fields side by side (at most ten a section); a long field a section alone."""
    row: list[dict[str, Any]] = []
    for item in fields:
        text = f"*{escape(item.title)}*\n{escape(item.value)}"
        if item.short:
            row.append(_mrkdwn(text, FIELD_TEXT_MAX))
            if len(row) == FIELDS_PER_SECTION:
                yield {"type": "section", "fields": row}
                row = []
            continue
        if row:
            yield {"type": "section", "fields": row}
            row = []
        yield {"type": "section", "text": _mrkdwn(text, SECTION_TEXT_MAX)}
    if row:
        yield {"type": "section", "fields": row}


def _action_blocks(message: Message) -> Iterator[dict[str, Any]]:
    buttons = message.buttons
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        seen: dict[str, int] = {}
        elements: list[dict[str, Any]] = []
        for button in buttons[start : start + BUTTONS_PER_BLOCK]:
            seen[button.action] = seen.get(button.action, 0) + 1
            action_id = ACTION_PREFIX + button.action
            if seen[button.action] > 1:
                action_id += f"{DUPLICATE_MARK}{seen[button.action]}"
            element: dict[str, Any]
            if button.choices:  # a menu: the choice carries what it acts on
                element = {
                    "type": "static_select",
                    "placeholder": _plain(button.label, BUTTON_LABEL_MAX),
                    "action_id": action_id,
                    "options": [_option(c.value, c.label) for c in button.choices[:OPTIONS_MAX]],
                }
            else:
                element = {
                    "type": "button",
                    "text": _plain(button.label, BUTTON_LABEL_MAX),
                    "action_id": action_id,
                    "value": _cut(button.value, BUTTON_VALUE_MAX),
                }
                if button.style:
                    element["style"] = button.style
            elements.append(element)
        yield {"type": "actions", "elements": elements}


def message_blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit: its title (a link when it has one) and text, its fields,
    its buttons (action_id `tocsin:<action>`, value the button's) and its context line."""
    head = escape(message.text)
    if message.title:
        title = _link(message.link, message.title) if message.link else escape(message.title)
        head = f"*{title}*" + (f"\n{head}" if head else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(head, SECTION_TEXT_MAX)}]
    blocks.extend(_field_sections(message.fields))
    blocks.extend(_action_blocks(message))
    if message.context:
        blocks.append(
            {"type": "context", "elements": [_mrkdwn(escape(message.context), CONTEXT_TEXT_MAX)]}
        )
    return blocks[:BLOCKS_MAX]


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label, OPTION_LABEL_MAX), "value": value[:OPTION_VALUE_MAX]}


def _element(item: FormField) -> dict[str, Any]:
    element: dict[str, Any] = {"action_id": item.name}
    if item.kind in ("text", "textarea"):
        element["type"] = "plain_text_input"
        element["multiline"] = item.kind == "textarea"
        if item.initial:
            element["initial_value"] = item.initial[:INPUT_VALUE_MAX]
        return element
    options = [_option(choice.value, choice.label) for choice in item.choices[:OPTIONS_MAX]]
    element["options"] = options
    if item.kind == "select":
        element["type"] = "static_select"
        initial = [option for option in options if option["value"] == item.initial]
        if initial:
            element["initial_option"] = initial[0]
    else:
        element["type"] = "multi_static_select"
        wanted = {part.strip() for part in (item.initial or "").split(",")}
        chosen = [option for option in options if option["value"] in wanted]
        if chosen:
            element["initial_options"] = chosen
    return element


def form_view(form: Form) -> dict[str, Any]:
    """The form as a modal view: each field an input block whose block_id and action_id are
    the field's name; callback_id and private_metadata carry `callback` and `state`. An
    optional choice with nothing to choose from is left out."""
    blocks: list[dict[str, Any]] = []
    for item in form.fields:
        if item.kind in ("select", "multiselect") and not item.choices:
            # Slack refuses the whole modal for a select without options (no services
            # defined yet, say); a required one could never be answered.
            if item.required:
                raise ValueError(f"the form's field {item.label!r} has nothing to choose from")
            continue
        block: dict[str, Any] = {
            "type": "input",
            "block_id": item.name,
            "label": _plain(item.label, LABEL_MAX),
            "optional": not item.required,
            "element": _element(item),
        }
        if item.hint:
            block["hint"] = _plain(item.hint, LABEL_MAX)
        blocks.append(block)
    if len(form.state) > VIEW_METADATA_MAX:
        # Cut state would come back as something Tocsin never wrote.
        raise ValueError(f"a form's state is limited to {VIEW_METADATA_MAX} characters on Slack")
    return {
        "type": "modal",
        "callback_id": form.callback,
        "private_metadata": form.state,
        "title": _plain(form.title, VIEW_TITLE_MAX),
        "submit": _plain(form.submit, VIEW_TITLE_MAX),
        "close": _plain("Cancel", VIEW_TITLE_MAX),
        "blocks": blocks,
    }


def channel_name(text: str) -> str:
    """A name Slack accepts for a channel: lowercase letters, digits, hyphens and
    underscores, at most 80 characters ("Checkout: 5xx on eu.api" → "checkout-5xx-on-eu-api")."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9_-]+", "-", folded)
    name = re.sub(r"-{2,}", "-", name).strip("-_")
    return name[:CHANNEL_NAME_MAX].rstrip("-_") or "incident"


def suffixed(name: str, number: int) -> str:
    """`name` with "-<number>", cut so the whole stays within Slack's 80 characters."""
    suffix = f"-{number}"
    return name[: CHANNEL_NAME_MAX - len(suffix)].rstrip("-_") + suffix


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value whatever the case of its name."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None
