"""The `plan` section: the response plan's own text (what counts as an incident, the
incident values), one object rather than a list. A field left out of the file keeps its
text; the rest of the plan comes from the other sections."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from tocsin.plan import service

Doc = dict[str, Any]
KEY = "plan"  # the one object's key, for the engine's diff


class PlanDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what_is_an_incident: str | None = Field(
        default=None, max_length=service.TEXT_MAX, description="Markdown"
    )
    values: str | None = Field(default=None, max_length=service.TEXT_MAX, description="Markdown")

    @field_validator("what_is_an_incident", "values")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        # As the service stores it: a YAML block's trailing newline is no change.
        return value.replace("\r\n", "\n").strip() if value is not None else None


def items(doc: PlanDoc | None) -> list[tuple[str, Doc]]:
    """The file's plan as the engine's one item, with only the fields it gives."""
    if doc is None:
        return []
    given = doc.model_dump(exclude_none=True)
    return [(KEY, {"key": KEY, **given})] if given else []


def current(session: Session) -> dict[str, Doc]:
    return {KEY: {"key": KEY, **service.texts(session)}}


def exported(current: dict[str, Doc]) -> Doc:
    return {k: v for k, v in current[KEY].items() if k != "key"}


def update(session: Session, key: str, changed: Doc) -> None:
    """`changed` holds only what differs from the text now."""
    service.set_texts(
        session,
        what_is_an_incident=changed.get("what_is_an_incident"),
        values=changed.get("values"),
    )
