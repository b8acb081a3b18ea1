"""Settings → Workflows through real form posts with the CSRF token: the list, building a
workflow action by action (the editor's buttons re-render the form), a refused save shown
next to the field with what was typed kept, enable/disable, reorder, delete with a
confirmation, test against an incident (nothing written), each workflow's runs; people who
are not admins read and cannot change; user text is escaped."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.workflows.conftest import declare, only_these, work, workflow
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.jobs.models import Job
from tocsin.runbooks.models import Runbook
from tocsin.workflows.models import Workflow, WorkflowRun

URL = "/settings/workflows"


def _base(csrf: str, **extra: Any) -> dict[str, Any]:
    return {
        "csrf_token": csrf,
        "name": "Tell support",
        "trigger": "declared",
        "enabled": "on",
        "c.drill": "no",
        "c.restricted": "any",
        "action_count": "0",
        **extra,
    }


def _fresh(db: Session) -> None:
    """Read what the requests committed (the session keeps its objects' state otherwise)."""
    db.rollback()
    db.expire_all()


def _by_name(db: Session, name: str) -> Workflow | None:
    _fresh(db)
    return db.scalar(select(Workflow).where(Workflow.name == name))


def test_an_admin_builds_a_workflow_with_the_editor_buttons(
    client: TestClient, db: Session, admin: User
) -> None:
    workflow(db, "Already there", "declared", [{"kind": "start_postmortem"}], position=50)
    db.commit()
    csrf = browser_login(client, admin.email)
    listing = client.get(URL)
    assert listing.status_code == 200
    assert "Already there" in listing.text
    assert f'name="csrf_token" value="{csrf}"' in listing.text
    new = client.get(f"{URL}/new")
    assert f'name="csrf_token" value="{csrf}"' in new.text
    # Every action kind of the model is offered, with no list kept in the editor.
    for kind in ("add_runbook", "assign_role", "page", "set_field", "wait", "send_email"):
        assert f'<option value="{kind}">' in new.text

    # "Add action" posts the form and comes back with one more row, nothing saved.
    added = client.post(f"{URL}/new", data=_base(csrf, op="add", new_kind="add_runbook"))
    assert added.status_code == 200
    assert 'name="a0.kind" value="add_runbook"' in added.text
    assert 'name="action_count" value="1"' in added.text
    assert "Incident commander checklist" in added.text  # runbooks offered from the database
    assert _by_name(db, "Tell support") is None

    book = db.scalar(select(Runbook).where(Runbook.name == "Incident commander checklist"))
    assert book is not None
    form = _base(
        csrf,
        action_count="3",
        **{"c.severities": "SEV1", "a0.kind": "add_runbook", "a0.runbook_id": str(book.id)},
        **{"a1.kind": "wait", "a1.minutes": "5"},
        **{"a2.kind": "create_action_item", "a2.title": "Tell support", "a2.description": ""},
    )
    moved = client.post(f"{URL}/new", data={**form, "op": "up-2"})
    assert moved.text.index('name="a1.kind" value="create_action_item"') < moved.text.index(
        'name="a2.kind" value="wait"'
    )
    removed = client.post(f"{URL}/new", data={**form, "op": "remove-1"})
    assert 'kind" value="wait"' not in removed.text
    assert 'name="action_count" value="2"' in removed.text

    saved = client.post(f"{URL}/new", data={**form, "op": "save"}, follow_redirects=False)
    assert saved.status_code == 303
    created = _by_name(db, "Tell support")
    assert created is not None
    assert created.conditions["severities"] == ["SEV1"]
    assert created.actions == [
        {"kind": "add_runbook", "runbook_id": book.id},
        {"kind": "wait", "minutes": 5},
        {"kind": "create_action_item", "title": "Tell support", "description": ""},
    ]
    page = client.get(saved.headers["location"])
    assert "Workflow “Tell support” created." in page.text
    assert f'<option value="{book.id}" selected>' in page.text
    table = client.get(URL).text.split('id="workflows-list"')[1]
    assert table.index("Already there") < table.index("Tell support")  # a new one runs last


def test_a_refused_save_names_the_field_and_keeps_what_was_typed(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    form = _base(
        csrf,
        op="save",
        name="Page <b>someone</b>",
        action_count="2",
        **{"a0.kind": "create_action_item", "a0.title": "Typed & kept", "a0.description": ""},
        **{"a1.kind": "page", "a1.target": "person", "a1.urgency": "low", "a1.message": ""},
    )
    refused = client.post(f"{URL}/new", data=form)
    assert refused.status_code == 422
    assert 'id="error-actions[1].user_id"' in refused.text
    assert "paging a person needs user_id" in refused.text
    assert 'value="Typed &amp; kept"' in refused.text
    assert '<option value="low" selected>' in refused.text
    assert "Page &lt;b&gt;someone&lt;/b&gt;" in refused.text  # escaped
    assert _by_name(db, "Page <b>someone</b>") is None

    # A timer without its minutes, and a bad number: each named.
    timer = client.post(f"{URL}/new", data={**_base(csrf, op="save"), "trigger": "no_update"})
    assert timer.status_code == 422 and 'id="error-trigger_minutes"' in timer.text
    waiting = _base(csrf, op="save", action_count="1", **{"a0.kind": "wait", "a0.minutes": "x"})
    bad = client.post(f"{URL}/new", data=waiting)
    assert bad.status_code == 422 and 'id="error-actions[0].minutes"' in bad.text

    # A webhook to a private address is refused here as through the API (CallWebhook's URL).
    private = _base(
        csrf,
        op="save",
        action_count="1",
        **{"a0.kind": "call_webhook", "a0.url": "http://10.0.0.1/x"},
    )
    inward = client.post(f"{URL}/new", data=private)
    assert inward.status_code == 422 and 'id="error-actions[0].url"' in inward.text
    assert "not a public internet address" in inward.text
    assert _by_name(db, "Tell support") is None


def test_edit_enable_move_delete(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    first = workflow(db, "First", "declared", [{"kind": "start_postmortem"}])
    second = workflow(db, "Second", "declared", [{"kind": "start_postmortem"}])
    db.commit()
    csrf = browser_login(client, admin.email)
    wid = first.id

    page = client.get(f"{URL}/{wid}")
    assert 'name="a0.kind" value="start_postmortem"' in page.text
    form = _base(csrf, op="save", name="First renamed", trigger="no_acknowledgement")
    form.update({"trigger_minutes": "15", "action_count": "1", "a0.kind": "start_postmortem"})
    saved = client.post(f"{URL}/{wid}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    edited = _by_name(db, "First renamed")
    assert edited is not None and (edited.trigger, edited.trigger_minutes) == (
        "no_acknowledgement",
        15,
    )
    # A name in use: 409's message next to the name, nothing changed.
    clash = client.post(f"{URL}/{wid}", data={**form, "name": "Second"})
    assert clash.status_code == 422 and 'id="error-name"' in clash.text
    assert _by_name(db, "First renamed") is not None

    client.post(f"{URL}/{wid}/enabled", data={"csrf_token": csrf, "enabled": ""})
    _fresh(db)
    assert db.get(Workflow, wid).enabled is False  # type: ignore[union-attr]

    before = [w.name for w in db.scalars(select(Workflow).order_by(Workflow.position, Workflow.id))]
    client.post(f"{URL}/{second.id}/move", data={"csrf_token": csrf, "direction": "up"})
    _fresh(db)
    after = [w.name for w in db.scalars(select(Workflow).order_by(Workflow.position, Workflow.id))]
    i = before.index("Second")
    assert after[i - 1] == "Second" and after[i] == "First renamed"
    listing = client.get(URL).text
    assert listing.index("Second") < listing.index("First renamed")

    confirm = client.get(f"{URL}/{wid}/delete")
    assert "Delete workflow First renamed?" in confirm.text
    assert _by_name(db, "First renamed") is not None  # asking deletes nothing
    deleted = client.post(f"{URL}/{wid}/delete", data={"csrf_token": csrf})
    assert "deleted; its runs stay" in deleted.text
    assert _by_name(db, "First renamed") is None
    assert client.get(f"{URL}/{wid}").status_code == 404


def test_test_against_an_incident_writes_nothing_and_runs_are_listed(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    mine = workflow(
        db,
        "SEV1 items",
        "declared",
        [{"kind": "create_action_item", "title": "Call <the> bank"}],
        conditions={"severities": ["SEV1"]},
    )
    only_these(db, mine)
    sev1 = declare(db, admin, "SEV1", title="Payments down")
    sev2 = declare(db, admin, "SEV2")
    work(db, container)
    csrf = browser_login(client, admin.email)
    assert csrf

    jobs = db.scalar(select(func.count(Job.id)))
    runs = db.scalar(select(func.count(WorkflowRun.id)))
    answer = client.get(f"{URL}/test", params={"incident": sev1.reference, "trigger": "declared"})
    assert answer.status_code == 200
    assert "create the action item “Call &lt;the&gt; bank”" in answer.text
    other = client.get(f"{URL}/test", params={"incident": sev2.reference, "trigger": "declared"})
    assert "No workflow would run." in other.text
    assert "SEV1 items</a>: severity is not SEV1" in other.text
    db.rollback()
    assert db.scalar(select(func.count(Job.id))) == jobs
    assert db.scalar(select(func.count(WorkflowRun.id))) == runs
    missing = client.get(f"{URL}/test", params={"incident": "INC-999"})
    assert missing.status_code == 404 and "no incident INC-999" in missing.text
    bad = client.get(f"{URL}/test", params={"incident": sev1.reference, "trigger": "nope"})
    assert bad.status_code == 422

    page = client.get(f"{URL}/{mine.id}")
    assert sev1.reference in page.text and "Payments down" in page.text
    assert "done: action item “Call &lt;the&gt; bank” created" in page.text
    assert f">{sev2.reference}<" not in page.text  # not a SEV1: it did not run there
    listing = client.get(URL)
    assert html.escape("SEV1 items") in listing.text


def test_people_who_are_not_admins_read_but_cannot_change(
    client: TestClient, db: Session, viewer: User, admin: User
) -> None:
    target = workflow(db, "Read <me>", "declared", [{"kind": "start_postmortem"}])
    db.commit()
    csrf = browser_login(client, viewer.email)
    listing = client.get(URL)
    assert listing.status_code == 200 and "Read &lt;me&gt;" in listing.text
    assert "Read <me>" not in listing.text
    assert "New workflow" not in listing.text and "Disable" not in listing.text
    page = client.get(f"{URL}/{target.id}")
    assert page.status_code == 200 and "Workflow Read &lt;me&gt;" in page.text
    assert '<fieldset class="plain stack" disabled>' in page.text
    assert "Save workflow" not in page.text
    assert client.get(f"{URL}/new").status_code == 403
    form = _base(csrf, op="save", name="Changed", action_count="0")
    assert client.post(f"{URL}/{target.id}", data=form).status_code == 403
    assert client.post(f"{URL}/{target.id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"{URL}/new", data=form).status_code == 403
    assert _by_name(db, "Read <me>") is not None


def test_free_values_and_field_conditions_keep_their_types(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    rows = {
        "a0.kind": "set_field",
        "a0.key": "region",
        "a0.value": "eu",
        "a1.kind": "set_field",
        "a1.key": "customers",
        "a1.value": "3",
        "a2.kind": "set_field",
        "a2.key": "ticket",
        "a2.value": '"3"',
    }
    form = _base(csrf, op="save", action_count="3", **rows)
    refused = client.post(f"{URL}/new", data={**form, "c.fields": "region eu"})
    assert refused.status_code == 422 and 'id="error-conditions.fields"' in refused.text
    assert "line 1 is not “key = value”" in refused.text
    saved = client.post(
        f"{URL}/new",
        data={**form, "c.fields": "region = eu\npaying = true"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    stored = _by_name(db, "Tell support")
    assert stored is not None
    assert stored.conditions["fields"] == {"region": "eu", "paying": True}
    assert [a["value"] for a in stored.actions] == ["eu", 3, "3"]
    # Shown again as typed, so saving the page unchanged changes nothing.
    page = client.get(saved.headers["location"]).text
    assert 'name="a1.value" value="3"' in page and 'name="a2.value" value="&#34;3&#34;"' in page
    assert "region = eu\npaying = true</textarea>" in page
