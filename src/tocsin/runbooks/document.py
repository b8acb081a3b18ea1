"""A runbook's Markdown as safe HTML blocks: prose, and steps with their detail, so that a
page can put a checkbox beside each step. Everything goes through `web.markdown`, which
drops raw HTML and scripts: a runbook with a script in it renders inert."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from tocsin.runbooks.parsing import Prose, parse
from tocsin.web.markdown import render_markdown


@dataclass(frozen=True)
class Shown:
    html: Markup  # the prose, or the step's own line
    step: int | None = None  # the step's number; None for prose
    role: str | None = None
    detail: Markup = Markup("")


def shown(body: str) -> list[Shown]:
    """The body's blocks, rendered, in order."""
    out: list[Shown] = []
    for block in parse(body):
        if isinstance(block, Prose):
            out.append(Shown(render_markdown(block.text, tables=True)))
        else:
            out.append(
                Shown(
                    render_markdown(block.text),
                    step=block.number,
                    role=block.role,
                    detail=render_markdown(block.detail, tables=True),
                )
            )
    return out
