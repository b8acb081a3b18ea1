"""JSON routes for escalation policies, a service's paging settings, and paging on an incident.

Everyone logged in reads; admins change policies and paging settings; responders escalate,
page people and reassign.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.db import utcnow
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.escalation import engine, policies
from tocsin.escalation.models import EscalationPolicy, ServicePaging
from tocsin.escalation.record import paging_record
from tocsin.escalation.schemas import (
    EscalateIn,
    PageIn,
    PagingIn,
    PagingOut,
    PagingRecordOut,
    PolicyIn,
    PolicyOut,
    PolicyPatch,
    ReassignIn,
    RunOut,
    paging_out,
    policy_out,
    run_out,
)
from tocsin.findings import Checks
from tocsin.incidents import queries
from tocsin.incidents.schemas import IncidentOut, incident_out
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["escalation"])

PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ServiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]


def services_using(session: Session, policy: EscalationPolicy) -> list[str]:
    return list(
        session.scalars(
            select(Service.name)
            .join(ServicePaging, ServicePaging.service_id == Service.id)
            .where(ServicePaging.policy_id == policy.id)
            .order_by(Service.name)
        )
    )


def _out(session: Session, policy: EscalationPolicy) -> PolicyOut:
    return policy_out(policy, services_using(session, policy))


@router.get("/escalation-policies", response_model=list[PolicyOut])
def list_policies(db: DbSession, user: CurrentUser) -> list[PolicyOut]:
    return [_out(db, p) for p in policies.list_policies(db)]


@router.post(
    "/escalation-policies", status_code=201, response_model=PolicyOut, responses=errors(404)
)
def create_policy(body: PolicyIn, db: DbSession, user: Responder) -> PolicyOut:
    """A policy with ordered levels; each level targets users, schedules or teams. In a team,
    by its responders and admins (or org admins)."""
    return _out(db, policies.create_policy(db, **body.model_dump(), by=user))


@router.get("/escalation-policies/{policy_id}", response_model=PolicyOut)
def get_policy(policy_id: PolicyId, db: DbSession, user: CurrentUser) -> PolicyOut:
    return _out(db, policies.get_policy(db, policy_id))


@router.patch("/escalation-policies/{policy_id}", response_model=PolicyOut)
def update_policy(
    policy_id: PolicyId, body: PolicyPatch, db: DbSession, user: Responder
) -> PolicyOut:
    """Change any of name, description, repeat, team_id, levels (levels replace the old ones)."""
    policy = policies.get_policy(db, policy_id)
    changes = body.model_dump(exclude_unset=True)
    return _out(db, policies.update_policy(db, policy, changes, by=user))


@router.delete("/escalation-policies/{policy_id}", status_code=204)
def delete_policy(policy_id: PolicyId, db: DbSession, user: Responder) -> Response:
    """Delete a policy that no service uses (409 names the services that do)."""
    policies.delete_policy(db, policies.get_policy(db, policy_id), by=user)
    return Response(status_code=204)


@router.get("/services/{service_id}/paging", response_model=PagingOut)
def get_paging(service_id: ServiceId, db: DbSession, user: CurrentUser) -> PagingOut:
    catalog.get_service(db, service_id)
    return paging_out(service_id, policies.paging_for(db, service_id))


@router.put("/services/{service_id}/paging", response_model=PagingOut)
def set_paging(service_id: ServiceId, body: PagingIn, db: DbSession, user: Responder) -> PagingOut:
    """The service's escalation policy, and what low urgency does there."""
    service = catalog.get_service(db, service_id)
    paging = policies.set_service_paging(db, service, **body.model_dump(), by=user)
    return paging_out(service_id, paging)


@router.get("/incidents/{ref}/paging", response_model=PagingRecordOut)
def get_paging_record(ref: Ref, db: DbSession, user: CurrentUser) -> PagingRecordOut:
    """Who was paged for this incident, by which policy level, how, and when."""
    return paging_record(db, queries.get_incident(db, ref, viewer=user))


@router.post("/incidents/{ref}/escalate", response_model=RunOut)
def escalate(ref: Ref, body: EscalateIn, db: DbSession, user: Responder) -> RunOut:
    """Restart paging at a level of the service's (or the given) policy."""
    incident = queries.get_incident(db, ref, viewer=user)
    run = engine.escalate(db, incident, level=body.level, by=user, policy_id=body.policy_id)
    return run_out(run, *engine.effective_state(run))


@router.post("/incidents/{ref}/page", response_model=RunOut)
def page(ref: Ref, body: PageIn, db: DbSession, user: Responder) -> RunOut:
    """Page people or teams now ("add responders"); their own notification rules apply."""
    incident = queries.get_incident(db, ref, viewer=user)
    run = engine.page_people(
        db, incident, by=user, user_ids=body.user_ids, team_ids=body.team_ids, message=body.message
    )
    return run_out(run, *engine.effective_state(run))


@router.post("/incidents/{ref}/reassign", response_model=RunOut)
def reassign(ref: Ref, body: ReassignIn, db: DbSession, user: Responder) -> RunOut:
    """Stop paging in progress and page this person instead."""
    incident = queries.get_incident(db, ref, viewer=user)
    run = engine.reassign(db, incident, user_id=body.user_id, by=user)
    return run_out(run, *engine.effective_state(run))


@router.post("/incidents/{ref}/acknowledge", response_model=IncidentOut, tags=["incidents"])
def acknowledge(ref: Ref, db: DbSession, user: Responder, settings: AppSettings) -> IncidentOut:
    """Acknowledge the incident (someone is on it): its paging stops. On an incident already
    acknowledged, this acknowledges the pages sent into it since (people paged by hand)."""
    incident = queries.get_incident(db, ref, viewer=user)
    engine.acknowledge_pages(db, incident, by=user)
    return incident_out(incident, settings.base_url)


@router.get("/checks")
def checks(request: Request, db: DbSession, user: CurrentUser, weeks: int = 4) -> dict:
    """What `tocsin check` finds: schedule gaps, services paging nobody, policies reaching
    nobody, people without a working contact method, channels that cannot be sent to."""
    found: Checks = request.app.state.checks
    findings = found.run(db, utcnow(), weeks=max(1, min(weeks, 52)))
    return {
        "ok": not any(f.severity == "problem" for f in findings),
        "findings": [f.as_dict() for f in findings],
    }
