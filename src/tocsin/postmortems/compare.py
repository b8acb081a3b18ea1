"""Comparing two revisions of a section: line by line (difflib), as data for the page and the
API. Pure functions; the text is escaped where it is shown, never here."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Op = Literal["same", "added", "removed"]


@dataclass(frozen=True)
class DiffLine:
    op: Op
    text: str


def diff_lines(old: str, new: str) -> list[DiffLine]:
    """Every line of both texts in order: unchanged, removed from `old`, added in `new`."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines += [DiffLine("same", t) for t in a[i1:i2]]
            continue
        lines += [DiffLine("removed", t) for t in a[i1:i2]]
        lines += [DiffLine("added", t) for t in b[j1:j2]]
    return lines


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    """The unified diff (three lines of context), as `diff -u` prints it."""
    return "\n".join(
        difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="")
    )
