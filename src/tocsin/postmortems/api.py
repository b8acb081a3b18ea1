"""JSON routes for postmortems.

Everyone logged in reads; responders write. A restricted incident's postmortem exists only
for the people who may see the incident: for anyone else it is missing from lists and
answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from tocsin.audit.trail import record
from tocsin.catalog.models import Service, Team
from tocsin.catalog.schemas import Aware, Page, page
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems import (
    export,
    pdf,
    policies,
    queries,
    service,
    suggestions,
    type_templates,
)
from tocsin.postmortems.models import Postmortem
from tocsin.postmortems.policies import calendar_from
from tocsin.postmortems.schemas import (
    DiffOut,
    PolicyIn,
    PolicyList,
    PolicyOut,
    PostmortemOut,
    PostmortemPatch,
    PostmortemStatusIn,
    PostmortemStatusName,
    PostmortemSummary,
    PostmortemTemplateOut,
    RevisionList,
    SectionConflictOut,
    SectionIn,
    SectionOut,
    SuggestionList,
    TemplateIn,
    diff_out,
    policy_out,
    postmortem_out,
    revision_out,
    section_out,
    suggestion_out,
    summary_out,
    template_out,
)
from tocsin.web.openapi import DESCRIPTIONS, errors

router = APIRouter(prefix="/api/v1", tags=["postmortems"])

PostmortemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
IdsOrNames = list[Annotated[str, Query(max_length=120)]]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]
Key = Annotated[str, Path(max_length=64, description="A section's key, e.g. what_happened")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


def _names(description: str, alias: str | None = None) -> Any:
    return Query(alias=alias, description=f"{description}: an id or a name (repeatable)")


@router.get("/postmortems", response_model=Page[PostmortemSummary], responses=errors(404))
def list_postmortems(
    db: DbSession,
    user: CurrentUser,
    status: Annotated[list[PostmortemStatusName], Query(description="Status (repeatable)")] = [],  # noqa: B006
    overdue: Annotated[bool, Query(description="Only those past their next deadline")] = False,
    published: Annotated[
        bool | None, Query(description="Only the published ones (true) or the others (false)")
    ] = None,
    q: Annotated[
        str, Query(max_length=200, description="Text in the incident's title or any section")
    ] = "",
    severity: Annotated[IdsOrNames, _names("The incident's severity")] = [],  # noqa: B006
    service_: Annotated[IdsOrNames, _names("An affected service", "service")] = [],  # noqa: B006
    team: Annotated[IdsOrNames, _names("The team owning an affected service")] = [],  # noqa: B006
    type_: Annotated[IdsOrNames, _names("The incident's type", "type")] = [],  # noqa: B006
    since: Annotated[Aware | None, Query(description="Incident started at or after")] = None,
    until: Annotated[Aware | None, Query(description="Incident started before")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Postmortems matching every filter given: overdue ones first, then the next due, then
    the newest."""
    now = utcnow()
    flt = incident_queries.IncidentFilter(
        severity_ids=incident_queries.ids_by_name(db, Severity, severity, "severity"),
        service_ids=incident_queries.ids_by_name(db, Service, service_, "service"),
        team_ids=incident_queries.ids_by_name(db, Team, team, "team"),
        type_ids=incident_queries.ids_by_name(db, IncidentType, type_, "type"),
        since=since,
        until=until,
    )
    rows, total = queries.list_postmortems(
        db,
        viewer=user,
        now=now,
        statuses=status,
        overdue_only=overdue,
        published=published,
        text=q,
        incidents=flt,
        limit=limit,
        offset=offset,
    )
    return page([summary_out(p, now) for p in rows], total, limit, offset)


@router.post(
    "/incidents/{ref}/postmortem",
    status_code=201,
    response_model=PostmortemOut,
    responses={200: {"model": PostmortemOut, "description": "It already had one"}},
)
def start(ref: Ref, db: DbSession, user: Responder, settings: AppSettings) -> Any:
    """Start the incident's postmortem, pre-filled from the template (200 with the existing
    one if it has one)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    existing = service.for_incident(db, incident)
    postmortem = existing or service.start(db, incident, by=user, calendar=calendar_from(settings))
    out = postmortem_out(postmortem, utcnow())
    if existing is not None:
        return JSONResponse(out.model_dump(mode="json"), status_code=200)
    return out


@router.get("/incidents/{ref}/postmortem", response_model=PostmortemOut)
def of_incident(ref: Ref, db: DbSession, user: CurrentUser) -> PostmortemOut:
    """The incident's postmortem; 404 when it has none."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    return postmortem_out(queries.of_incident(db, incident), utcnow())


@router.get("/postmortems/{postmortem_id}", response_model=PostmortemOut)
def get_postmortem(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> PostmortemOut:
    return postmortem_out(queries.get_postmortem(db, postmortem_id, viewer=user), utcnow())


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _recorded(db: Session, postmortem: Postmortem, form: str) -> None:
    record(
        db,
        "export.postmortem",
        target_type="postmortem",
        target_id=postmortem.id,
        target=export.filename(postmortem, "md" if form == "markdown" else form),
        detail={"format": form},
    )


def _file_responses(media_type: str, schema: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The postmortem as one file to download",
            "content": {media_type: {"schema": schema}},
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="postmortem-INC-42.…"',
                    "schema": {"type": "string"},
                }
            },
        }
    }


@router.get(
    "/postmortems/{postmortem_id}/export.md",
    response_class=Response,
    responses=_file_responses("text/markdown", {"type": "string"}),
)
def export_markdown(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> Response:
    """The postmortem as one Markdown document: the header's facts and every section."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    _recorded(db, postmortem, "markdown")
    return _download(
        export.to_markdown(postmortem, export.review_record(db, postmortem)).encode(),
        "text/markdown; charset=utf-8",
        export.filename(postmortem, "md"),
    )


@router.get(
    "/postmortems/{postmortem_id}/export.pdf",
    response_class=Response,
    responses=_file_responses("application/pdf", {"type": "string", "format": "binary"}),
)
def export_pdf(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> Response:
    """The postmortem as a PDF, with the same content as the Markdown export."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    _recorded(db, postmortem, "pdf")
    content = pdf.to_pdf(postmortem, export.review_record(db, postmortem))
    return _download(content, "application/pdf", export.filename(postmortem, "pdf"))


@router.patch("/postmortems/{postmortem_id}", response_model=PostmortemOut)
def edit(
    postmortem_id: PostmortemId, body: PostmortemPatch, db: DbSession, user: Responder
) -> PostmortemOut:
    """Change the owner, the meeting's time or the recording link; each change is on the
    incident's timeline."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    changes = body.model_dump(exclude_unset=True)
    if "owner_id" in changes:
        service.assign_owner(db, postmortem, changes.pop("owner_id"), by=user)
    service.schedule(db, postmortem, changes, by=user)
    return postmortem_out(postmortem, utcnow())


@router.post("/postmortems/{postmortem_id}/status", response_model=PostmortemOut)
def change_status(
    postmortem_id: PostmortemId, body: PostmortemStatusIn, db: DbSession, user: Responder
) -> PostmortemOut:
    """Draft → in_review → reviewed → closed, and in_review back to draft; 409 otherwise.
    Reviewed needs a reviewer's approval and no changes requested (409), unless an admin
    gives `override`, a reason that goes on the timeline (403 for anyone else)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    service.change_status(db, postmortem, body.status, by=user, override=body.override)
    return postmortem_out(postmortem, utcnow())


@router.put(
    "/postmortems/{postmortem_id}/sections/{key}",
    response_model=SectionOut,
    responses={409: {"model": SectionConflictOut, "description": DESCRIPTIONS[409]}},
)
def save_section(
    postmortem_id: PostmortemId, key: Key, body: SectionIn, db: DbSession, user: Responder
) -> Any:
    """Save a section's Markdown edited from `base_version`. If it was saved since, 409 with
    both texts (yours and the saved one) and nothing is written."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    try:
        section = service.save_section(db, postmortem, key, body.body, body.base_version, by=user)
    except service.SectionConflict as conflict:
        return JSONResponse(
            {
                "error": {
                    "status": 409,
                    "message": conflict.message,
                    "field": conflict.field,
                    "yours": conflict.yours,
                    "saved": conflict.saved,
                    "saved_version": conflict.saved_version,
                }
            },
            status_code=409,
        )
    return section_out(section)


@router.get("/postmortems/{postmortem_id}/sections/{key}/revisions", response_model=RevisionList)
def revisions(
    postmortem_id: PostmortemId, key: Key, db: DbSession, user: CurrentUser
) -> RevisionList:
    """Every saved version of a section, newest first (version 1 is the pre-filled text)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    items = [revision_out(r) for r in queries.revisions(db, postmortem, key)]
    return RevisionList(items=items, total=len(items))


FromVersion = Annotated[int, Query(ge=1, le=2**31 - 1, description="The older version")]
ToVersion = Annotated[int, Query(ge=1, le=2**31 - 1, description="The newer version")]
SuggestionId = Annotated[str, Path(max_length=64, description="A suggestion's id")]


@router.get("/postmortems/{postmortem_id}/sections/{key}/diff", response_model=DiffOut)
def diff(
    postmortem_id: PostmortemId,
    key: Key,
    db: DbSession,
    user: CurrentUser,
    from_version: FromVersion,
    to_version: ToVersion,
) -> DiffOut:
    """What changed in a section between two of its versions, line by line."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    old = queries.revision(db, postmortem, key, from_version)
    new = queries.revision(db, postmortem, key, to_version)
    return diff_out(key, old, new)


@router.get("/postmortems/{postmortem_id}/suggestions", response_model=SuggestionList)
def list_suggestions(
    postmortem_id: PostmortemId, db: DbSession, user: CurrentUser
) -> SuggestionList:
    """The blameless review suggestions on the current text, less those dismissed, in the
    sections' order. They never block anything."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    items = [suggestion_out(s) for s in suggestions.for_postmortem(db, postmortem)]
    return SuggestionList(items=items, total=len(items))


@router.post(
    "/postmortems/{postmortem_id}/suggestions/{suggestion_id}/dismiss",
    response_model=SuggestionList,
)
def dismiss_suggestion(
    postmortem_id: PostmortemId, suggestion_id: SuggestionId, db: DbSession, user: Responder
) -> SuggestionList:
    """Dismiss a suggestion (404 if the text it was about changed); answers the remaining
    ones. It stays dismissed while the sentence it is about is unchanged."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    suggestions.dismiss(db, postmortem, suggestion_id, by=user)
    items = [suggestion_out(s) for s in suggestions.for_postmortem(db, postmortem)]
    return SuggestionList(items=items, total=len(items))


# --- policies ---------------------------------------------------------------------------

SeverityId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/postmortem-policies", response_model=PolicyList)
def list_policies(db: DbSession, user: CurrentUser) -> PolicyList:
    """Every severity's policy, most severe first (`required: false` with nulls: none)."""
    items = [policy_out(s, p) for s, p in policies.all_policies(db)]
    return PolicyList(items=items, total=len(items))


@router.put("/postmortem-policies/{severity_id}", response_model=PolicyOut)
def set_policy(severity_id: SeverityId, body: PolicyIn, db: DbSession, admin: Admin) -> PolicyOut:
    """Set a severity's policy (admins). Postmortems already started keep their deadlines."""
    policy = policies.set_policy(db, severity_id, body.model_dump())
    return policy_out(policy.severity, policy)


# --- templates per incident type ----------------------------------------------------------

TypeId = Annotated[int, Path(ge=1, le=2**31 - 1, description="An incident type's id")]
TEMPLATE = "/incident-types/{type_id}/postmortem-template"


def _template(db: DbSession, type_id: int) -> PostmortemTemplateOut:
    itype = type_templates.incident_type(db, type_id)
    return template_out(itype.id, itype.name, type_templates.template_of(db, type_id))


@router.get(TEMPLATE, response_model=PostmortemTemplateOut)
def get_template(type_id: TypeId, db: DbSession, user: CurrentUser) -> PostmortemTemplateOut:
    """The sections a postmortem of this type starts with (PagerDuty's: `custom` false)."""
    return _template(db, type_id)


@router.put(TEMPLATE, response_model=PostmortemTemplateOut)
def put_template(
    type_id: TypeId, body: TemplateIn, db: DbSession, admin: Admin
) -> PostmortemTemplateOut:
    """Give the type its own template (admins), replacing the one it had; postmortems
    already started keep their sections."""
    sections = [s.model_dump() for s in body.sections]
    type_templates.set_template(db, type_id, sections, by=admin)
    return _template(db, type_id)


@router.delete(TEMPLATE, response_model=PostmortemTemplateOut)
def reset_template(type_id: TypeId, db: DbSession, admin: Admin) -> PostmortemTemplateOut:
    """Back to PagerDuty's template (admins); answers it."""
    type_templates.reset_template(db, type_id)
    return _template(db, type_id)
