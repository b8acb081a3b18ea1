"""A runbook's Markdown as a document of steps. Pure functions; no database.

A step is a checkbox item at the start of a line, `- [ ] Do this` (or `* [ ]`, `+ [ ]`;
an `[x]` in the source is a step too: the source is a template, ticks live on incidents).
`(role: scribe)` at the end of a step names the incident role that owns it. Lines indented
under a step (a fenced command, a note, a nested list) are that step's detail. Everything
else is prose between steps. Checkbox lines inside a top-level fenced block are not steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STEP_RE = re.compile(r"^[-*+] \[[ xX]\][ \t]+(?P<text>\S.*)$")
ROLE_RE = re.compile(r"[ \t]*\(role:[ \t]*(?P<role>[^)\s]*)[ \t]*\)[ \t]*$", re.IGNORECASE)
FENCE_RE = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})")


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, in the order of the document
    text: str  # the step's own line, without the checkbox and the role marker
    role: str | None  # an incident role's slug, as written (checked by the service)
    detail: str = ""  # the lines indented under it, dedented


@dataclass(frozen=True)
class Prose:
    text: str


Block = Step | Prose


def _step(number: int, text: str) -> Step:
    text = text.rstrip()
    role = None
    marker = ROLE_RE.search(text)
    if marker:
        role = marker.group("role").strip().lower()
        text = text[: marker.start()].rstrip()
    return Step(number=number, text=text, role=role)


def _dedent(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines.pop()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] if line.strip() else "" for line in lines)


def parse(body: str) -> list[Block]:
    """The document as prose and steps, in order; every line of `body` lands in one block."""
    blocks: list[Block] = []
    prose: list[str] = []
    step: Step | None = None
    detail: list[str] = []
    fence: str | None = None  # the opening fence of the top-level block we are in

    def close_step() -> None:
        nonlocal step, detail
        if step is not None:
            blocks.append(Step(step.number, step.text, step.role, _dedent(detail)))
        step, detail = None, []

    def close_prose() -> None:
        nonlocal prose
        if any(line.strip() for line in prose):
            blocks.append(Prose("\n".join(prose).strip("\n")))
        prose = []

    number = 0
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if fence is not None:
            prose.append(line)
            opened = FENCE_RE.match(line)
            if (
                opened
                and opened.group("fence")[0] == fence[0]
                and len(opened["fence"]) >= len(fence)
            ):
                fence = None
            continue
        if step is not None and (not line.strip() or line[:1] in (" ", "\t")):
            detail.append(line)
            continue
        close_step()
        matched = STEP_RE.match(line)
        if matched:
            close_prose()
            number += 1
            step = _step(number, matched.group("text"))
            continue
        opened = FENCE_RE.match(line)
        if opened:
            fence = opened.group("fence")
        prose.append(line)
    close_step()
    close_prose()
    return blocks


def steps(body: str) -> list[Step]:
    """Only the steps, numbered 1…n."""
    return [block for block in parse(body) if isinstance(block, Step)]
