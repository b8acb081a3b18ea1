"""`tocsin check` warns of runbooks naming a deleted role, or attaching themselves to nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.runbooks.conftest import runbook
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.wiring import build_checks


def test_deleted_role_and_unscoped_auto_attach_are_warned(db: Session, admin: User) -> None:
    runbook(db, admin, "Scribing", body="- [ ] Keep the timeline (role: scribe)")
    runbook(db, admin, "Everywhere", auto_attach=True)
    assert [f.check for f in build_checks().run(db, utcnow()) if f.check.startswith("runbook")] == [
        "runbook_scope"
    ]
    scribe = next(r for r in defs.roles(db) if r.slug == "scribe")
    defs.delete_role(db, scribe.id)
    found = [f for f in build_checks().run(db, utcnow()) if f.check == "runbook_role"]
    assert {f.subject for f in found} == {
        "Scribing",
        "Incident commander checklist",
        "Security incident checklist",
    }
    assert all(f.severity == "warning" for f in found)
    assert "'scribe', which no longer exists" in found[0].message
