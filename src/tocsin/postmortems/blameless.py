"""The blameless review aid: PagerDuty's advice on effective postmortems, applied to a draft
as suggestions. Pure functions: no database, nothing blocks a save.

Each suggestion names its section, the words that matched, the sentence (or timeline row)
they are in, and why. Its id is derived from the rule, the section and that sentence, so a
dismissed suggestion stays dismissed while the sentence is unchanged, and comes back once
someone rewrites it and the words are still there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

# The sections that describe what happened and why: where blame and hindsight creep in.
NARRATIVE = ("overview", "what_happened", "contributing_factors", "resolution")
CAUSES = ("what_happened", "contributing_factors")
# Where the word "outage" reaches readers.
OUTAGE_SECTIONS = (
    "overview",
    "what_happened",
    "contributing_factors",
    "resolution",
    "impact",
    "internal_email",
    "external_message",
)

WHY = {
    "human_error": (
        "Avoid \u201chuman error\u201d: a mistake is rarely the root of an incident. Name the "
        "conditions that let it happen (a script without a rate limit, out-of-date "
        "documentation): those can be fixed."
    ),
    "person": (
        "Keep the postmortem blameless: describe what the system allowed, not who did it. If "
        "someone's change broke things, the cause is a system that let it through."
    ),
    "outage": (
        "Say \u201coutage\u201d only for a real outage: the impact here looks partial, and the "
        "word makes readers think everything was unavailable. Describe the actual impact."
    ),
    "alternate_reality": (
        "Avoid \u201calternate reality\u201d: describe what happened, and keep what could have "
        "gone differently for the improvements (what didn't go well, action items), where it "
        "can be discussed on its own."
    ),
    "timeline_link": (
        "Give each timeline row a data link (a graph, a log query, an alert) so that others "
        "can see the evidence and how it was gathered."
    ),
    "fix_in_description": (
        "Keep \u201cwhat happened\u201d separate from \u201chow to fix it\u201d: move fixes and "
        "plans to the action items, so each can be discussed on its own."
    ),
}

HUMAN_ERROR = re.compile(
    r"\b(?:human|operator|user|engineer|pilot|manual)[\s-]+errors?\b|\bcareless(?:ness)?\b"
    r"|\bnegligen(?:ce|t)\b",
    re.IGNORECASE,
)
ALTERNATE = re.compile(
    r"\b(?:should|could|would)(?: not|n't)? have\b|\b(?:should|could|would)n?'ve\b"
    r"|\bif only\b|\bfailed to\b",
    re.IGNORECASE,
)
FIXES = re.compile(
    r"\bwe(?: will|'ll| need to| should)\b|\baction items?\b|\bfix(?:es|ing)?\b"
    r"|\bto prevent\b|\bgoing forward\b",
    re.IGNORECASE,
)
OUTAGE = re.compile(r"\boutages?\b", re.IGNORECASE)
# What tells that the impact was partial: degraded, some users, a percentage below 100.
PARTIAL = re.compile(
    r"\bpartial(?:ly)?\b|\bdegraded\b|\bslow(?:er|ness)?\b|\belevated\b|\bintermittent(?:ly)?\b"
    r"|\bsome (?:customers|users|requests|accounts|regions)\b"
    r"|(?<![\d.])(?:[1-9]?\d(?:\.\d+)?)\s?%",
    re.IGNORECASE,
)
LINK = re.compile(r"\]\(|https?://|<[a-z]+:|mailto:", re.IGNORECASE)
TABLE_SEPARATOR = re.compile(r"^\|?[\s:|-]+\|?$")


@dataclass(frozen=True)
class Suggestion:
    id: str
    rule: str
    section_key: str
    match: str  # the words that matched
    text: str  # the sentence or timeline row they are in
    why: str


def suggestion_id(rule: str, section_key: str, text: str) -> str:
    """Stable for a rule, a section and the sentence (whitespace and case aside)."""
    normal = " ".join(text.split()).casefold()
    digest = hashlib.sha256(f"{rule}\x00{section_key}\x00{normal}".encode()).hexdigest()
    return digest[:16]


def _sentence(body: str, start: int, end: int) -> str:
    """The sentence (within its line) around body[start:end]."""
    left = max(body.rfind("\n", 0, start), *(body.rfind(p, 0, start) for p in (". ", "! ", "? ")))
    left = left + 1 if left >= 0 else 0
    ends = [i for i in (body.find(c, end) for c in ".!?\n") if i >= 0]
    right = min(ends) + 1 if ends else len(body)
    return body[left:right].strip(" \n|").strip()


def _hits(rule: str, key: str, body: str, pattern: re.Pattern[str]) -> Iterator[Suggestion]:
    seen: set[str] = set()
    for found in pattern.finditer(body):
        text = _sentence(body, found.start(), found.end())
        sid = suggestion_id(rule, key, text)
        if sid in seen:
            continue
        seen.add(sid)
        yield Suggestion(sid, rule, key, found.group(0), text, WHY[rule])


def partial_impact(*texts: str) -> bool:
    """Whether these descriptions of the impact say it was partial."""
    return any(PARTIAL.search(t) for t in texts if t)


def _people(names: Iterable[str]) -> re.Pattern[str] | None:
    """Full names (at least two words or six letters, so that "Al" names nobody)."""
    wanted = sorted(
        {n.strip() for n in names if len(n.strip()) >= 6 or " " in n.strip()},
        key=len,
        reverse=True,
    )
    if not wanted:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in wanted) + r")(?!\w)")


def _timeline_rows(key: str, body: str) -> Iterator[Suggestion]:
    rows = [line.strip() for line in body.splitlines() if line.strip().startswith("|")]
    for number, row in enumerate(rows):
        if number == 0 or TABLE_SEPARATOR.match(row):
            continue  # the header and the separator
        cells = [c.strip() for c in row.strip("|").split("|")]
        if not any(cells) or LINK.search(row):
            continue
        sid = suggestion_id("timeline_link", key, row)
        yield Suggestion(sid, "timeline_link", key, cells[-1], row, WHY["timeline_link"])


def suggest(
    sections: Mapping[str, str],
    *,
    people: Iterable[str] = (),
    impact_notes: str = "",
) -> list[Suggestion]:
    """Every suggestion for a postmortem's sections (key → Markdown), in the sections' order.
    `people` are the names of Tocsin's users; `impact_notes` what the incident says of its
    customer impact (the impact section is read too)."""
    named = _people(people)
    partial = partial_impact(sections.get("impact", ""), impact_notes)
    found: list[Suggestion] = []
    for key, body in sections.items():
        if not body:
            continue
        if key in CAUSES:
            found += _hits("human_error", key, body, HUMAN_ERROR)
            if named is not None:
                found += _hits("person", key, body, named)
        if key in NARRATIVE or key == "timeline":
            found += _hits("alternate_reality", key, body, ALTERNATE)
        if key == "what_happened":
            found += _hits("fix_in_description", key, body, FIXES)
        if key == "timeline":
            found += _timeline_rows(key, body)
        if partial and key in OUTAGE_SECTIONS:
            found += _hits("outage", key, body, OUTAGE)
    return found
