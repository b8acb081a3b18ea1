"""Mattermost's shapes for Tocsin's neutral ones, as pure functions: a `Message` as a post's
message with one attachment (fields, footer and interactive buttons), a `Form` as an
interactive dialog, a channel's handle, and the signed dialog state.

Everything a person typed is escaped before Mattermost renders it as Markdown, and an
@-mention in it is broken with a zero-width space so that "@channel" in an incident title
pings nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from tocsin.chat.ports import Button, Form, FormField, Message, Reply

ZWSP = "\u200b"
NAME_MIN, NAME_MAX = 2, 64
DISPLAY_NAME_MAX = 64
# Mattermost's interactive dialog limits: an element's label, its help text and the title.
LABEL_MAX, HELP_MAX, TITLE_MAX = 24, 150, 24
# Characters that Mattermost's Markdown reads as markup anywhere in a line.
_MARKUP = re.compile(r"([\\`*_~\[\]()<>|#!])")
_MENTION = re.compile(r"@(?=\w)")
_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9]+")
_STYLES = {"primary": "primary", "danger": "danger"}


def no_mentions(text: str) -> str:
    """`text` with every @-mention broken by a zero-width space, so that it pings nobody."""
    return _MENTION.sub("@" + ZWSP, text)


def escape(text: str) -> str:
    """`text` shown as typed: Markdown markup escaped, @-mentions broken."""
    return no_mentions(_MARKUP.sub(r"\\\1", text))


def channel_name(text: str) -> str:
    """A channel handle Mattermost accepts: lowercase a-z, 0-9, "-" and "_", 2 to 64 long,
    not starting or ending with a separator."""
    name = _NOT_NAME.sub("-", text.lower()).strip("-_")
    name = re.sub(r"-{2,}", "-", name)[:NAME_MAX].strip("-_")
    if len(name) < NAME_MIN:
        # A name of symbols or another script only: keep it valid and recognisable.
        name = ("incident-" + name).strip("-_")
    return name


def suffixed(name: str, number: int) -> str:
    """`name` with "-<number>" appended, cut so that the whole stays within 64 characters."""
    suffix = f"-{number}"
    return name[: NAME_MAX - len(suffix)].rstrip("-_") + suffix


def action_id(button: Button, index: int) -> str:
    """An action id Mattermost accepts (letters and digits only), unique on the message."""
    return (_NOT_ID.sub("", button.action) or "action") + str(index)


def attachment(message: Message, *, actions_url: str, secret: str) -> dict[str, Any] | None:
    """The attachment carrying a message's title, fields, footer and buttons; None for a
    message that is text alone (the text itself is the post's message)."""
    if not (message.title or message.fields or message.buttons or message.context):
        return None
    card: dict[str, Any] = {"fallback": no_mentions(message.text or message.title or "")}
    if message.title:
        card["title"] = no_mentions(message.title)
        if message.link:
            card["title_link"] = message.link
    if message.fields:
        card["fields"] = [
            {"title": no_mentions(f.title), "value": escape(f.value), "short": f.short}
            for f in message.fields
        ]
    if message.context:
        card["footer"] = no_mentions(message.context)
    if message.buttons:
        card["actions"] = [
            _action(button, index, actions_url=actions_url, secret=secret)
            for index, button in enumerate(message.buttons)
        ]
    return card


def _action(button: Button, index: int, *, actions_url: str, secret: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": action_id(button, index),
        "type": "select" if button.choices else "button",
        "name": no_mentions(button.label),
        "integration": {
            "url": actions_url,
            "context": {"action": button.action, "value": button.value, "secret": secret},
        },
    }
    if button.choices:  # a menu: Mattermost adds the choice as `selected_option`
        action["options"] = [{"text": c.label, "value": c.value} for c in button.choices]
    if button.style in _STYLES:
        action["style"] = _STYLES[button.style]
    return action


def post_body(message: Message, *, actions_url: str, secret: str) -> dict[str, Any]:
    """The `message` and `props` of a post showing `message`."""
    body: dict[str, Any] = {"message": escape(message.text), "props": {}}
    card = attachment(message, actions_url=actions_url, secret=secret)
    if card is not None:
        body["props"] = {"attachments": [card]}
    return body


def sign_state(state: str, secret: str) -> str:
    """`state` with an HMAC-SHA256 of it appended ("<state>.<hex>"), for a dialog to echo."""
    mac = hmac.new(secret.encode(), state.encode(), hashlib.sha256).hexdigest()
    return f"{state}.{mac}"


def verify_state(signed: str, secret: str) -> str | None:
    """The state a dialog echoed back, if its HMAC is right; else None."""
    state, dot, mac = signed.rpartition(".")
    if not dot:
        return None
    expected = hmac.new(secret.encode(), state.encode(), hashlib.sha256).hexdigest()
    return state if hmac.compare_digest(mac.encode(), expected.encode()) else None


def dialog(form: Form, *, secret: str) -> dict[str, Any]:
    """The interactive dialog showing `form`, its state signed with `secret`."""
    return {
        "callback_id": form.callback,
        "title": form.title[:TITLE_MAX],
        "submit_label": form.submit,
        "elements": [_element(f) for f in form.fields],
        "state": sign_state(form.state, secret),
        "notify_on_cancel": False,
    }


def _element(form_field: FormField) -> dict[str, Any]:
    element: dict[str, Any] = {
        "display_name": form_field.label[:LABEL_MAX],
        "name": form_field.name,
        "type": "select" if form_field.kind in ("select", "multiselect") else form_field.kind,
        "optional": not form_field.required,
    }
    if form_field.kind in ("select", "multiselect"):
        element["options"] = [{"text": c.label, "value": c.value} for c in form_field.choices]
    if form_field.kind == "multiselect":
        element["multiselect"] = True
    if form_field.initial is not None:
        element["default"] = form_field.initial
    if form_field.hint:
        element["help_text"] = form_field.hint[:HELP_MAX]
    return element


def reply_body(route: str, reply: Reply, *, actions_url: str, secret: str) -> dict[str, Any] | None:
    """The JSON answering a slash command, a button or a dialog with `reply` (None: empty).
    A command's reply shows at once (to the person alone when private); a button's as an
    ephemeral line; a dialog's errors keep it open."""
    if route == "commands":
        shown = reply.text or (reply.message.text if reply.message else "")
        body: dict[str, Any] = {
            "response_type": "ephemeral" if reply.private else "in_channel",
            "text": escape(shown),
        }
        if reply.message is not None:
            card = attachment(reply.message, actions_url=actions_url, secret=secret)
            if card is not None:
                body["props"] = {"attachments": [card]}
        return body
    if route == "actions":
        body = {}
        if reply.text:
            body["ephemeral_text"] = escape(reply.text)
        return body
    return {"errors": dict(reply.errors)} if reply.errors else None
