"""The response plan: built from live configuration, so a change shows at once on the page,
in the Markdown and the PDF; every signed-in user reads it; script in its text is inert."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.plan.conftest import pdf_text
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms import service as comms
from tocsin.definitions import service as defs
from tocsin.definitions.models import IncidentRole, Severity
from tocsin.escalation import policies
from tocsin.plan import service
from tocsin.roster import service as roster
from tocsin.workflows import service as workflows
from tocsin.workflows.models import Workflow

HEADINGS = (
    "What counts as an incident", "Severities", "Roles and responsibilities",
    "Communication channels", "Update templates", "Escalation paths", "Incident values",
    "Investigating", "Identified", "Monitoring", "Resolved",
)  # fmt: skip


def _role(db: Session, slug: str) -> IncidentRole:
    return db.scalars(select(IncidentRole).where(IncidentRole.slug == slug)).one()


def _severity(db: Session, name: str) -> Severity:
    return db.scalars(select(Severity).where(Severity.name == name)).one()


def _everything(api: TestClient, tmp_path: Path) -> tuple[str, str, str]:
    page = api.get("/plan")
    md = api.get("/api/v1/plan/export.md")
    pdf = api.get("/api/v1/plan/export.pdf")
    assert page.status_code == md.status_code == pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert 'filename="response-plan.pdf"' in pdf.headers["content-disposition"]
    return page.text, md.text, pdf_text(pdf.content, tmp_path)


def test_the_plan_follows_the_configuration_at_once(
    api: TestClient, db: Session, admin: User, responder: User, tmp_path: Path
) -> None:
    ic = _role(db, "incident_commander")
    defs.update_role(db, ic.id, {"name": "Chief Firefighter"})
    defs.update_severity(db, _severity(db, "SEV1").id, {"response_target_minutes": 7})
    roster.set_entry(db, ic.id, primary_user_id=responder.id, backup_user_id=admin.id)
    checkout = catalog.create_service(db, name="Checkout")
    policy = policies.create_policy(
        db,
        name="Checkout on call",
        levels=[{"delay_minutes": 12, "targets": [{"kind": "user", "id": admin.id}]}],
    )
    policies.set_service_paging(db, checkout, policy_id=policy.id)
    comms.create_channel(
        db,
        {"name": "Bridge call", "kind": "manual", "audience": "internal",
         "instructions": "Dial the bridge number", "severities": ["SEV1"]},
    )  # fmt: skip
    service.set_texts(db, what_is_an_incident="Customers cannot pay", values="Always blameless")
    db.commit()

    page, md, pdf = _everything(api, tmp_path)
    for text in (page, md, pdf):
        assert "Chief Firefighter" in text
        assert "7 minutes" in text
        assert "Customers cannot pay" in text and "Always blameless" in text
        assert "Checkout on call" in text and "Bridge call" in text
        assert "Dial the bridge number" in text
        assert "Rita Responder" in text, "the roster's primary"
    assert "- **Primary:** Rita Responder" in md and f"- **Backup:** {admin.name}" in md
    assert f"1. Level 1: {admin.name}; waits 12 minutes for an acknowledgement" in md
    for heading in HEADINGS:
        assert heading in page and heading in md and heading in pdf
    # A postmortem policy from postmortems.policies: SEV1 requires one by default.
    assert "review meeting within 3 calendar days" in md

    defs.update_role(db, ic.id, {"name": "Incident Commander"})
    db.commit()
    page, md, pdf = _everything(api, tmp_path)
    assert all("Chief Firefighter" not in t for t in (page, md, pdf))
    assert all("Incident Commander" in t for t in (page, md, pdf))


def test_the_json_plan_and_every_user_reads_it(
    client: TestClient, db: Session, viewer: User
) -> None:
    browser_login(client, viewer.email)
    page = client.get("/plan")
    assert page.status_code == 200 and "Incident response plan" in page.text
    assert 'href="/settings/plan"' not in page.text, "the settings link is for admins"
    client.cookies.clear()
    got = client.get("/api/v1/plan", headers=api_as(client, db, viewer))
    assert got.status_code == 200
    body = got.json()
    assert [t["label"] for t in body["templates"]] == [
        "Investigating", "Identified", "Monitoring", "Resolved",
    ]  # fmt: skip
    assert body["severities"][0]["name"] == "SEV1"
    assert any(r["slug"] == "incident_commander" for r in body["roles"])
    assert client.get("/api/v1/plan").status_code == 401


def test_only_admins_change_the_text(client: TestClient, db: Session, responder: User) -> None:
    token = browser_login(client, responder.email)
    refused = client.post("/settings/plan", data={"csrf_token": token, "values": "mine"})
    assert refused.status_code == 403
    assert service.texts(db)["values"] == ""


def test_the_settings_page_edits_the_text_with_csrf_and_script_is_inert(
    client: TestClient, db: Session, admin: User
) -> None:
    token = browser_login(client, admin.email)
    assert 'href="/plan"' in client.get("/incidents").text
    refused = client.post("/settings/plan", data={"what_is_an_incident": "x", "values": ""})
    assert refused.status_code == 403
    page = client.post(
        "/settings/plan",
        data={"csrf_token": token, "values": "Be kind <script>alert(1)</script>",
              "what_is_an_incident": "**Any** outage <img src=x onerror=alert(2)>"},
    ).text  # fmt: skip
    assert "Response plan saved." in page
    plan = client.get("/plan").text
    assert "<strong>Any</strong> outage" in plan
    body = plan[plan.index('id="what-is-an-incident"') :]
    assert "<script>alert" not in body and "<img" not in body
    assert service.texts(db)["values"].startswith("Be kind")
    form = client.get("/settings/plan").text
    assert "Be kind &lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in form


def test_each_severity_shows_what_it_sets_in_motion(
    api: TestClient, db: Session, admin: User, tmp_path: Path
) -> None:
    """Paging at the severity's default urgency, the enabled workflows its incidents start
    (declared with it or changed to it, with their other conditions), and its postmortem."""
    seeded = db.scalars(select(Workflow).where(Workflow.name == "SEV2: page the IC")).one()
    workflows.edit(db, seeded, {"enabled": True}, guard=None)
    workflows.create(
        db,
        name="Bridge for checkout",
        trigger="severity_changed",
        conditions={"severities": ["SEV1", "SEV2"], "services": ["Checkout"]},
        actions=[{"kind": "create_action_item", "title": "Open the bridge call"}],
        by=admin,
        guard=None,
    )
    workflows.create(
        db,
        name="Practice makes perfect",
        trigger="declared",
        conditions={"drill": "yes"},
        actions=[{"kind": "create_action_item", "title": "Drill only"}],
        by=admin,
        guard=None,
    )
    workflows.create(
        db,
        name="Switched off",
        trigger="declared",
        enabled=False,
        actions=[{"kind": "create_action_item", "title": "Never shown"}],
        by=admin,
        guard=None,
    )
    defs.update_severity(db, _severity(db, "SEV4").id, {"default_urgency": "low"})
    db.commit()

    page, md, pdf = _everything(api, tmp_path)
    for text in (page, md, pdf):
        assert "SEV2: page the IC" in text and "Bridge for checkout" in text
        assert "Practice makes perfect" not in text and "Switched off" not in text
    assert "### SEV2 Major sets in motion" in md
    sev2 = md[md.index("### SEV2 Major sets in motion") : md.index("### SEV3")]
    assert "- Paging: high-urgency paging through each service's escalation policy" in sev2
    assert (
        "- Workflow “SEV2: page the IC” (when declared): page the IC from the roster "
        "(primary and backup), high urgency" in sev2
    )
    assert (
        "- Workflow “Bridge for checkout” (when its severity changes to it; only for services "
        "Checkout): create the action item “Open the bridge call”" in sev2
    )
    sev3 = md[md.index("### SEV3") : md.index("### SEV4")]
    assert "Workflow" not in sev3, "no workflow starts with SEV3"
    sev4 = md[md.index("### SEV4") :]
    assert "low-urgency paging" in sev4.split("\n## ")[0]

    plan = api.get("/api/v1/plan").json()
    by_name = {s["name"]: s for s in plan["severities"]}
    assert [w["workflow"] for w in by_name["SEV2"]["workflows"]] == [
        "SEV2: page the IC",
        "Bridge for checkout",
    ]
    assert by_name["SEV1"]["workflows"][0] == {
        "workflow": "Bridge for checkout",
        "when": "when its severity changes to it",
        "limits": "only for services Checkout",
        "actions": ["create the action item “Open the bridge call”"],
    }
    assert by_name["SEV3"]["workflows"] == []
    assert by_name["SEV4"]["paging"].startswith("low-urgency paging")


def test_admins_set_the_plans_text_through_the_api(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    as_admin, as_responder = api_as(client, db, admin), api_as(client, db, responder)
    put = client.put(
        "/api/v1/plan/settings",
        json={"what_is_an_incident": "  Customers **cannot** pay\r\n", "values": "Be kind"},
        headers=as_admin,
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"what_is_an_incident": "Customers **cannot** pay", "values": "Be kind"}
    # A field left out keeps its text; everyone signed in reads it, and the plan shows it.
    kept = client.put("/api/v1/plan/settings", json={"values": ""}, headers=as_admin).json()
    assert kept == {"what_is_an_incident": "Customers **cannot** pay", "values": ""}
    got = client.get("/api/v1/plan/settings", headers=as_responder)
    assert got.status_code == 200 and got.json() == kept
    plan = client.get("/api/v1/plan", headers=as_responder).json()
    assert plan["what_is_an_incident"] == "Customers **cannot** pay"

    refused = client.put("/api/v1/plan/settings", json={"values": "mine"}, headers=as_responder)
    assert refused.status_code == 403
    for body, field in (
        ({"values": "x" * 20_001}, "values"),
        ({"what_is_an_incident": None}, "what_is_an_incident"),
        ({"what_is_an_incident": 5}, "what_is_an_incident"),
        ({"value": "typo"}, "value"),
    ):
        bad = client.put("/api/v1/plan/settings", json=body, headers=as_admin)
        assert bad.status_code == 422, (body, bad.text)
        assert field in bad.text
    assert service.texts(db) == kept
    assert client.put("/api/v1/plan/settings", json={"values": "x"}).status_code == 401
