"""Matrix rendering: a `Message` as the plain `body` and the HTML `formatted_body` of an
m.room.message. Matrix has no buttons: each button becomes a line naming its reaction and
its `!tocsin` command."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from tocsin.chat.ports import Button, Message

COMMAND_WORD = "!tocsin"


def _verb(label: str) -> str:
    """A button's label as the end of "… to <verb>": "Acknowledge" → "acknowledge", while
    a label starting with an acronym ("SEV1") keeps its case."""
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def _button_plain(button: Button) -> str:
    command = f"`{COMMAND_WORD} {button.command}`"
    how = f"React {button.reaction} or send {command}" if button.reaction else f"Send {command}"
    return f"{how} to {_verb(button.label)}"


def _button_html(button: Button) -> str:
    command = f"<code>{html.escape(f'{COMMAND_WORD} {button.command}')}</code>"
    if button.reaction:
        how = f"React {html.escape(button.reaction)} or send {command}"
    else:
        how = f"Send {command}"
    return f"{how} to {html.escape(_verb(button.label))}"


def _safe_link(link: str | None) -> str | None:
    """Only http(s) links become an href: a `javascript:` link in a title must not."""
    if link and urlsplit(link).scheme.lower() in ("http", "https"):
        return link
    return None


def _lines_html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def render(message: Message) -> tuple[str, str]:
    """(body, formatted_body): the plain text and the same as HTML, every piece of the
    message's text escaped."""
    plain: list[str] = []
    rich: list[str] = []
    link = _safe_link(message.link)
    if message.title:
        plain.append(f"{message.title} ({link})" if link else message.title)
        title = html.escape(message.title)
        if link:
            title = f'<a href="{html.escape(link, quote=True)}">{title}</a>'
        rich.append(f"<p><strong>{title}</strong></p>")
    if message.text:
        plain.append(message.text)
        rich.append(f"<p>{_lines_html(message.text)}</p>")
    if message.fields:
        plain.extend(f"{f.title}: {f.value}" for f in message.fields)
        items = "".join(
            f"<li><strong>{html.escape(f.title)}</strong>: {_lines_html(f.value)}</li>"
            for f in message.fields
        )
        rich.append(f"<ul>{items}</ul>")
    if message.buttons:
        plain.extend(_button_plain(b) for b in message.buttons)
        rich.append("<p>" + "<br>".join(_button_html(b) for b in message.buttons) + "</p>")
    if message.context:
        plain.append(message.context)
        rich.append(f"<p><em>{html.escape(message.context)}</em></p>")
    return "\n".join(plain), "".join(rich)
