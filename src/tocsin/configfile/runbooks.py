"""The `runbooks` section: runbooks matched by name, with their text, where they apply and
whether they attach themselves. A changed name or text is a new version, as in the UI; a
runbook missing from the file is left alone (nothing is deleted)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service
from tocsin.definitions.models import IncidentType
from tocsin.errors import ValidationFailed
from tocsin.runbooks import service
from tocsin.runbooks.models import Runbook

Doc = dict[str, Any]


class RunbookDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=service.NAME_MAX)
    body: str = Field(description="Markdown: each step a line `- [ ] text (role: slug)`")
    incident_type: str | None = Field(default=None, description="an incident type's name")
    services: list[str] = Field(default=[], description="services' names")
    auto_attach: bool = False

    @field_validator("body")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip("\n")  # as the service stores it: a YAML block's newline is no change


def current(session: Session) -> dict[str, Doc]:
    return {
        r.name: {
            "name": r.name,
            "body": service.current(r).body,
            "incident_type": r.incident_type.name if r.incident_type else None,
            "services": [s.name for s in r.services],
            "auto_attach": r.auto_attach,
        }
        for r in service.list_runbooks(session)
    }


def _type_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    found = session.scalar(
        select(IncidentType.id).where(func.lower(IncidentType.name) == name.lower())
    )
    if found is None:
        raise ValidationFailed(f"no incident type named {name!r}", field="incident_type")
    return found


def _service_ids(session: Session, names: list[str]) -> list[int]:
    ids = []
    for name in names:
        found = session.scalar(select(Service.id).where(Service.name == name))
        if found is None:
            raise ValidationFailed(f"no service named {name!r}", field="services")
        ids.append(found)
    return ids


def create(session: Session, doc: Doc) -> None:
    service.create(
        session,
        name=doc["name"],
        body=doc["body"],
        by=None,
        incident_type_id=_type_id(session, doc.get("incident_type")),
        service_ids=_service_ids(session, doc.get("services", [])),
        auto_attach=doc.get("auto_attach", False),
    )


def update(session: Session, name: str, changed: Doc) -> None:
    """`changed` holds only what differs from the runbook now."""
    runbook = session.scalar(
        select(Runbook).where(
            func.lower(Runbook.name) == name.lower(), Runbook.deleted_at.is_(None)
        )
    )
    if runbook is None:
        raise ValidationFailed(f"no runbook named {name!r}", field="name")
    extra: dict[str, Any] = {}
    if "incident_type" in changed:
        extra["incident_type_id"] = _type_id(session, changed["incident_type"])
    if "services" in changed:
        extra["service_ids"] = _service_ids(session, changed["services"])
    service.edit(
        session,
        runbook,
        by=None,
        name=changed.get("name"),
        body=changed.get("body"),
        auto_attach=changed.get("auto_attach"),
        **extra,
    )
