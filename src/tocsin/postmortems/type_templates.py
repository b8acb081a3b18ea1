"""Postmortem templates per incident type: read, replace, go back to PagerDuty's.

An incident type without a template of its own uses PagerDuty's (`template.SECTIONS`). A
postmortem copies its type's template when it starts (`service.start`), so changing a
template never rewrites a postmortem already started.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType
from tocsin.errors import NotFound, ValidationFailed
from tocsin.postmortems.models import PostmortemTemplate
from tocsin.postmortems.template import KINDS, SECTIONS, SectionSpec

MAX_SECTIONS = 40
TITLE_MAX = 120
GUIDANCE_MAX = 2_000
TEXT_MAX = 20_000
KEY_MAX = 64
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
FIELDS = ("key", "title", "kind", "guidance", "text")


def spec_doc(spec: SectionSpec) -> dict[str, str]:
    """A section as data: `{key, title, kind, guidance, text}`."""
    return {f: getattr(spec, f) for f in FIELDS}


def default_sections() -> list[dict[str, str]]:
    """PagerDuty's template as data."""
    return [spec_doc(spec) for spec in SECTIONS]


def incident_type(session: Session, type_id: int) -> IncidentType:
    """The incident type; NotFound otherwise."""
    found = session.get(IncidentType, type_id)
    if found is None:
        raise NotFound(f"no incident type with id {type_id}")
    return found


def template_of(session: Session, type_id: int) -> PostmortemTemplate | None:
    """The incident type's own template (NotFound for an unknown type; None: it has none)."""
    incident_type(session, type_id)
    return session.scalar(
        select(PostmortemTemplate).where(PostmortemTemplate.incident_type_id == type_id)
    )


def specs_for(session: Session, type_id: int | None) -> tuple[SectionSpec, ...]:
    """The sections a postmortem of an incident of this type starts with."""
    if type_id is None:
        return SECTIONS
    own = session.scalar(
        select(PostmortemTemplate).where(PostmortemTemplate.incident_type_id == type_id)
    )
    if own is None:
        return SECTIONS
    return tuple(SectionSpec(**{f: s[f] for f in FIELDS}) for s in own.sections)


def _text(item: dict[str, Any], name: str, at: str, *, max_len: int, required: bool = False) -> str:
    raw = item.get(name)
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationFailed(f"{name} must be text", field=f"{at}.{name}")
    value = raw.strip()
    if required and not value:
        raise ValidationFailed(f"{name} cannot be empty", field=f"{at}.{name}")
    if len(value) > max_len:
        raise ValidationFailed(
            f"{name} is {len(value):,} characters long; at most {max_len:,}",
            field=f"{at}.{name}",
        )
    return value


def validate_sections(raw: Any) -> list[dict[str, str]]:
    """The sections, checked and normalised. ValidationFailed's `field` is the path of the
    first bad one (`sections[2].key`, counted from 0); its message does not repeat it."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationFailed("sections must be a list", field="sections")
    if not raw:
        raise ValidationFailed("a template needs at least one section", field="sections")
    if len(raw) > MAX_SECTIONS:
        raise ValidationFailed(
            f"a template has at most {MAX_SECTIONS} sections ({len(raw)} given)",
            field="sections",
        )
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        at = f"sections[{index}]"
        if not isinstance(item, dict):
            raise ValidationFailed("a section must be a mapping", field=at)
        unknown = set(item) - set(FIELDS)
        if unknown:
            raise ValidationFailed(
                f"unknown field(s): {', '.join(sorted(map(str, unknown)))}", field=at
            )
        key = _text(item, "key", at, max_len=KEY_MAX, required=True)
        if not KEY_PATTERN.fullmatch(key):
            raise ValidationFailed(
                f"key {key!r}: lowercase letters, digits and _, starting with a letter",
                field=f"{at}.key",
            )
        if key in seen:
            raise ValidationFailed(
                f"{key!r} is already the key of sections[{seen[key]}]", field=f"{at}.key"
            )
        seen[key] = index
        kind = item.get("kind") or "markdown"
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field=f"{at}.kind")
        out.append(
            {
                "key": key,
                "title": _text(item, "title", at, max_len=TITLE_MAX, required=True),
                "kind": kind,
                "guidance": _text(item, "guidance", at, max_len=GUIDANCE_MAX),
                "text": _text(item, "text", at, max_len=TEXT_MAX),
            }
        )
    return out


def set_template(
    session: Session, type_id: int, sections: Any, *, by: User | None
) -> PostmortemTemplate:
    """Give the incident type its own template (replacing the one it had). Postmortems
    already started keep their sections."""
    itype = incident_type(session, type_id)
    checked = validate_sections(sections)
    own = template_of(session, type_id)
    if own is None:
        own = PostmortemTemplate(incident_type_id=itype.id)
        session.add(own)
    own.sections = checked
    own.updated_at = utcnow()
    own.updated_by_id = by.id if by is not None else None
    session.flush()
    return own


def reset_template(session: Session, type_id: int) -> None:
    """Back to PagerDuty's template for the incident type's next postmortems."""
    own = template_of(session, type_id)
    if own is not None:
        session.delete(own)
        session.flush()


def all_templates(session: Session) -> list[PostmortemTemplate]:
    """Every incident type's own template, by the type's name."""
    return list(
        session.scalars(
            select(PostmortemTemplate)
            .join(IncidentType, IncidentType.id == PostmortemTemplate.incident_type_id)
            .order_by(IncidentType.name)
        )
    )
