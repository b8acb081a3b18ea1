"""JSON routes for single sign-on's identity providers (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from tocsin.auth import saml, sso
from tocsin.auth.sso_schemas import (
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    provider_out,
    service_data,
)
from tocsin.catalog.schemas import Page, window
from tocsin.deps import Admin, AppSettings, DbSession
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1/sso", tags=["sso"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


@router.get("/providers", response_model=Page[ProviderOut])
def list_providers(
    db: DbSession, admin: Admin, settings: AppSettings, limit: Limit = 500, offset: Offset = 0
) -> dict[str, Any]:
    """The identity providers people sign in with (client secrets never shown)."""
    rows = [provider_out(p, settings.public_url()) for p in sso.list_providers(db)]
    return window(rows, limit, offset)


@router.post("/providers", status_code=201, response_model=ProviderOut, responses=errors(404, 409))
def create_provider(
    body: ProviderIn, db: DbSession, admin: Admin, settings: AppSettings
) -> ProviderOut:
    """Add an OpenID Connect or SAML 2.0 identity provider; its client secret is stored
    encrypted."""
    provider = sso.create_provider(
        db, service_data(body), settings=settings, check_metadata=saml.check_metadata
    )
    return provider_out(provider, settings.public_url())


@router.get("/providers/{provider_id}", response_model=ProviderOut)
def get_provider(
    provider_id: PathId, db: DbSession, admin: Admin, settings: AppSettings
) -> ProviderOut:
    return provider_out(sso.get_provider(db, provider_id), settings.public_url())


@router.patch("/providers/{provider_id}", response_model=ProviderOut, responses=errors(409))
def update_provider(
    provider_id: PathId, body: ProviderPatch, db: DbSession, admin: Admin, settings: AppSettings
) -> ProviderOut:
    """Change a provider (not its kind); the client secret is kept when left out; `rules`
    replaces every group rule."""
    provider = sso.get_provider(db, provider_id)
    sso.update_provider(
        db, provider, service_data(body), settings=settings, check_metadata=saml.check_metadata
    )
    return provider_out(provider, settings.public_url())


@router.delete("/providers/{provider_id}", status_code=204)
def delete_provider(provider_id: PathId, db: DbSession, admin: Admin) -> Response:
    """Remove a provider: its people keep their accounts, no longer linked to it."""
    sso.delete_provider(db, sso.get_provider(db, provider_id))
    return Response(status_code=204)
