"""SCIM 2.0 over HTTP (RFC 7644) at /scim/v2, authenticated by SCIM tokens, and the admins'
routes for those tokens under /api/v1/scim. Every refusal is a SCIM error, recorded in the
audit trail as `scim.refused`, and changes nothing (the request's transaction rolls back)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse

from tocsin.audit.trail import Actor, acting, record_apart
from tocsin.catalog.schemas import Page as ApiPage
from tocsin.catalog.schemas import window
from tocsin.deps import Admin, AppSettings, DbSession, client_address
from tocsin.scim import groups, tokens, users
from tocsin.scim.errors import ScimError
from tocsin.scim.filters import (
    And,
    Compare,
    Filter,
    FilterError,
    Not,
    Or,
    ValuePath,
    parse_filter,
    paths,
)
from tocsin.scim.models import ScimToken
from tocsin.scim.patch import apply_patch
from tocsin.scim.schema import EXTENSIONS, GROUP, USER, Attr, ResourceSchema
from tocsin.scim.schemas import ScimTokenCreated, ScimTokenIn, ScimTokenOut, token_out
from tocsin.web.openapi import errors

MEDIA_TYPE = "application/scim+json"
BODY_MAX = 1_000_000

router = APIRouter(prefix="/scim/v2", include_in_schema=False)
admin_router = APIRouter(prefix="/api/v1/scim", tags=["scim"])


def scim_base(settings: AppSettings) -> str:
    return settings.base_url.rstrip("/") + "/scim/v2"


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def scim_client(request: Request, db: DbSession) -> ScimToken:
    """The identity provider calling: its SCIM token; 401 without a live one. It acts in
    the audit records as via="scim"."""
    token = tokens.authenticate(db, _bearer(request))
    actor = Actor(
        None, f"SCIM token {token.name} ({token.prefix})", "scim", client_address(request)
    )
    acting(db, actor)
    request.state.scim_actor = actor
    return token


Client = Annotated[ScimToken, Depends(scim_client)]
Base = Annotated[str, Depends(scim_base)]


async def scim_body(request: Request, client: Client) -> Any:
    """The request's JSON body, read once the caller is known; 400 invalidSyntax when it is
    not JSON."""
    raw = await request.body()
    if len(raw) > BODY_MAX:
        raise ScimError(413, None, "the body is too large")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScimError(400, "invalidSyntax", f"the body is not JSON: {exc}") from exc


Body = Annotated[Any, Depends(scim_body)]


def scim_response(
    content: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _resource_response(resource: dict[str, Any], status: int = 200) -> JSONResponse:
    headers = {"ETag": resource["meta"]["version"]}
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    return scim_response(resource, status, headers=headers)


def _filter(text: str | None, schema: ResourceSchema) -> Filter | None:
    if text is None or not text.strip():
        return None
    try:
        node = parse_filter(text, EXTENSIONS)
    except FilterError as exc:
        raise ScimError(400, "invalidFilter", f"bad filter: {exc}") from exc
    for path, within in paths(node):
        if within is not None:
            attr = schema.attr(within.schema, within.attr)
            known = attr is not None and attr.child(path.attr) is not None
        else:
            attr = schema.attr(path.schema, path.attr)
            known = attr is not None and (path.sub is None or attr.child(path.sub) is not None)
        if not known:
            raise ScimError(400, "invalidFilter", f"bad filter: unknown attribute {str(path)!r}")
    try:
        _typed(node, schema, None)
    except FilterError as exc:
        raise ScimError(400, "invalidFilter", f"bad filter: {exc}") from exc
    return node


def _typed(node: Filter, schema: ResourceSchema, within: Attr | None) -> None:
    """A comparison that orders (gt, ge, lt, le) or searches (co, sw, ew) a true-or-false
    attribute is refused; `within` is the attribute a value path's filter is inside."""
    if isinstance(node, And | Or):
        _typed(node.left, schema, within)
        _typed(node.right, schema, within)
    elif isinstance(node, Not):
        _typed(node.inner, schema, within)
    elif isinstance(node, ValuePath):
        _typed(node.inner, schema, schema.attr(node.path.schema, node.path.attr))
    elif isinstance(node, Compare):
        if within is not None:
            attr = within.child(node.path.attr)
        else:
            attr = schema.attr(node.path.schema, node.path.attr)
            if attr is not None and node.path.sub is not None:
                attr = attr.child(node.path.sub)
        boolean = isinstance(node.value, bool) or (attr is not None and attr.type == "boolean")
        if boolean and node.op not in ("eq", "ne"):
            raise FilterError(f"{node.op} does not apply to true or false ({node.path})")


def _window(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        text = request.query_params.get(name)
        if text is None:
            return default
        try:
            return max(min(int(text), 2**31), -(2**31))
        except ValueError as exc:
            raise ScimError(400, "invalidValue", f"{name} must be a whole number") from exc

    return number("startIndex", 1), number("count", 100)


def _check_version(request: Request, resource: dict[str, Any]) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() != "*" and resource["meta"]["version"] not in wanted:
        raise ScimError(412, None, "the resource changed since that version (If-Match)")


def _excluded(request: Request) -> set[str]:
    return {
        a.strip().lower()
        for a in request.query_params.get("excludedAttributes", "").split(",")
        if a.strip()
    }


# --- discovery ---------------------------------------------------------------------------


@router.get("/ServiceProviderConfig")
def service_provider_config(client: Client, base: Base) -> JSONResponse:
    return scim_response(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": 200},
            "changePassword": {"supported": True},
            "sort": {"supported": False},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A SCIM token an admin creates in Settings → Provisioning",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base}/ServiceProviderConfig",
            },
        }
    )


def _resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person in Tocsin; userName is the email address",
            "schema": USER.urn,
            "schemaExtensions": [{"schema": urn, "required": False} for urn in USER.extensions],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A Tocsin team",
            "schema": GROUP.urn,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


@router.get("/ResourceTypes")
def resource_types(client: Client, base: Base) -> JSONResponse:
    return scim_response(_listing(_resource_types(base)))


@router.get("/ResourceTypes/{name}")
def resource_type(name: str, client: Client, base: Base) -> JSONResponse:
    for item in _resource_types(base):
        if item["id"] == name:
            return scim_response(item)
    raise ScimError(404, None, f"no resource type {name!r}")


def _schemas(base: str) -> list[dict[str, Any]]:
    return [*USER.as_scim(base), *GROUP.as_scim(base)]


@router.get("/Schemas")
def schemas(client: Client, base: Base) -> JSONResponse:
    return scim_response(_listing(_schemas(base)))


@router.get("/Schemas/{urn}")
def schema(urn: str, client: Client, base: Base) -> JSONResponse:
    for item in _schemas(base):
        if item["id"] == urn:
            return scim_response(item)
    raise ScimError(404, None, f"no schema {urn!r}")


# --- Users -------------------------------------------------------------------------------

UserId = Annotated[str, Path(max_length=40)]


@router.get("/Users")
def list_users(request: Request, db: DbSession, client: Client, base: Base) -> JSONResponse:
    where = _filter(request.query_params.get("filter"), USER)
    start, count = _window(request)
    return scim_response(users.list_users(db, base, where, start, count).body())


@router.get("/Users/{user_id}")
def get_user(user_id: UserId, db: DbSession, client: Client, base: Base) -> JSONResponse:
    user, link = users.get_user(db, user_id)
    return _resource_response(users.render(user, link, base))


@router.post("/Users")
def create_user(body: Body, db: DbSession, client: Client, base: Base) -> JSONResponse:
    user, link = users.create_user(db, body)
    return _resource_response(users.render(user, link, base), 201)


@router.put("/Users/{user_id}")
def replace_user(
    user_id: UserId, request: Request, body: Body, db: DbSession, client: Client, base: Base
) -> JSONResponse:
    user, link = users.get_user(db, user_id)
    _check_version(request, users.render(user, link, base))
    link = users.replace_user(db, user, link, body)
    return _resource_response(users.render(user, link, base))


@router.patch("/Users/{user_id}")
def patch_user(
    user_id: UserId, request: Request, body: Body, db: DbSession, client: Client, base: Base
) -> JSONResponse:
    user, link = users.get_user(db, user_id)
    current = users.render(user, link, base)
    _check_version(request, current)
    link = users.replace_user(db, user, link, apply_patch(USER, current, body))
    return _resource_response(users.render(user, link, base))


@router.delete("/Users/{user_id}", status_code=204)
def delete_user(
    user_id: UserId, request: Request, db: DbSession, client: Client, base: Base
) -> Response:
    user, link = users.get_user(db, user_id)
    _check_version(request, users.render(user, link, base))
    users.delete_user(db, user, link)
    return Response(status_code=204)


# --- Groups ------------------------------------------------------------------------------


@router.get("/Groups")
def list_groups(request: Request, db: DbSession, client: Client, base: Base) -> JSONResponse:
    where = _filter(request.query_params.get("filter"), GROUP)
    start, count = _window(request)
    members = "members" not in _excluded(request)
    page = groups.list_groups(db, base, where, start, count, members=members)
    return scim_response(page.body())


@router.get("/Groups/{group_id}")
def get_group(
    group_id: UserId, request: Request, db: DbSession, client: Client, base: Base
) -> JSONResponse:
    team, link = groups.get_group(db, group_id)
    resource = groups.render(team, link, base)
    if "members" in _excluded(request):
        resource.pop("members", None)
    return _resource_response(resource)


@router.post("/Groups")
def create_group(body: Body, db: DbSession, client: Client, base: Base) -> JSONResponse:
    team, link = groups.create_group(db, body)
    return _resource_response(groups.render(team, link, base), 201)


@router.put("/Groups/{group_id}")
def replace_group(
    group_id: UserId, request: Request, body: Body, db: DbSession, client: Client, base: Base
) -> JSONResponse:
    team, link = groups.get_group(db, group_id)
    _check_version(request, groups.render(team, link, base))
    link = groups.replace_group(db, team, link, body)
    return _resource_response(groups.render(team, link, base))


@router.patch("/Groups/{group_id}")
def patch_group(
    group_id: UserId, request: Request, body: Body, db: DbSession, client: Client, base: Base
) -> Response:
    team, link = groups.get_group(db, group_id)
    current = groups.render(team, link, base)
    _check_version(request, current)
    link = groups.replace_group(db, team, link, apply_patch(GROUP, current, body))
    return _resource_response(groups.render(team, link, base))


@router.delete("/Groups/{group_id}", status_code=204)
def delete_group(
    group_id: UserId, request: Request, db: DbSession, client: Client, base: Base
) -> Response:
    team, link = groups.get_group(db, group_id)
    _check_version(request, groups.render(team, link, base))
    groups.delete_group(db, team)
    return Response(status_code=204)


# --- refusals ----------------------------------------------------------------------------


def refused(request: Request, exc: Exception) -> Response:
    """A SCIM error response, recorded as `scim.refused` in a transaction of its own (the
    request's rolled back)."""
    assert isinstance(exc, ScimError)
    actor = getattr(request.state, "scim_actor", None) or Actor(
        None, "SCIM client", "anonymous", client_address(request)
    )
    factory = request.app.state.sessionmaker
    record_apart(
        factory,
        "scim.refused",
        actor=actor,
        outcome="refused",
        target_type="scim",
        target=f"{request.method} {request.url.path}"[:255],
        detail={"status": exc.status_code, "scimType": exc.scim_type, "detail": exc.detail},
    )
    response = scim_response(exc.body(), exc.status_code)
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def install_error_handler(app: FastAPI) -> None:
    """SCIM's errors answered as RFC 7644 §3.12 says (a sync handler: it writes a record)."""
    app.add_exception_handler(ScimError, refused)


# --- tokens, for admins ------------------------------------------------------------------


@admin_router.get("/tokens", response_model=ApiPage[ScimTokenOut])
def list_tokens(db: DbSession, admin: Admin) -> dict[str, Any]:
    """The SCIM tokens, newest first; secrets are never listed."""
    rows = [token_out(t) for t in tokens.list_tokens(db)]
    return window(rows, 500, 0)


@admin_router.post("/tokens", status_code=201, response_model=ScimTokenCreated)
def create_token(body: ScimTokenIn, db: DbSession, admin: Admin, base: Base) -> ScimTokenCreated:
    """A new SCIM token for an identity provider; its secret is in this answer only."""
    token, secret = tokens.create_token(db, by=admin, name=body.name)
    return ScimTokenCreated(token=token_out(token), secret=secret, base_url=base)


@admin_router.delete("/tokens/{token_id}", response_model=ScimTokenOut, responses=errors(404))
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: DbSession, admin: Admin
) -> ScimTokenOut:
    """Revoke a SCIM token: the identity provider using it is refused from now on."""
    return token_out(tokens.revoke_token(db, token_id))
