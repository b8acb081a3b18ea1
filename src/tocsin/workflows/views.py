"""HTML for workflows: the incident page's card listing the runs on the incident."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.workflows.service import runs_of


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident's workflow runs, oldest first: what each action did, or why it was
    skipped."""
    return {"runs": runs_of(db, incident)}
