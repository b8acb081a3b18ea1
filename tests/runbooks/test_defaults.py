"""The default runbooks reach a database from before runbooks on its upgrade, once."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.runbooks import service
from tocsin.runbooks.defaults import ensure_default_runbooks


def test_an_existing_database_gets_the_defaults_on_upgrade(
    settings: Settings, container: Container, db: Session, admin: User
) -> None:
    db.commit()
    with downgraded(settings, container, "0029"):
        assert "runbooks" not in inspect(container.engine).get_table_names()
    db.rollback()
    names = [r.name for r in service.list_runbooks(db)]
    assert names == ["Incident commander checklist", "Security incident checklist"]


def test_a_deleted_default_does_not_come_back(db: Session, admin: User) -> None:
    ic = next(r for r in service.list_runbooks(db) if r.name.startswith("Incident commander"))
    service.delete(db, ic, by=admin)
    assert ensure_default_runbooks(db) is False
    assert [r.name for r in service.list_runbooks(db)] == ["Security incident checklist"]
