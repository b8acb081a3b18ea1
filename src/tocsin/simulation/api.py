"""`POST /api/v1/paging/simulate`: a dry run of paging. Anyone logged in may ask; nothing is
written (it is a POST for its body, not for a change)."""

from __future__ import annotations

from fastapi import APIRouter

from tocsin.deps import CurrentUser, DbSession
from tocsin.simulation.moment import parse_moment
from tocsin.simulation.schemas import SimulateIn, SimulationOut, simulation_out
from tocsin.simulation.service import simulate
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["escalation"])


@router.post("/paging/simulate", response_model=SimulationOut, responses=errors(404))
def simulate_paging(body: SimulateIn, db: DbSession, user: CurrentUser) -> SimulationOut:
    """Who would be paged, at which level, through which contact methods and when, if an
    incident were declared on the service at `at` and nobody acknowledged; which channels
    would be due an update; which workflows would run. Writes nothing."""
    at, zone = parse_moment(body.at, body.timezone)
    result = simulate(
        db,
        service=body.service,
        at=at,
        timezone=zone,
        severity=body.severity,
        incident_type=body.type,
        urgency=body.urgency,
    )
    return simulation_out(result)
