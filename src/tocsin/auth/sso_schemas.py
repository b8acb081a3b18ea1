"""API shapes for single sign-on's identity providers (the client secret is write-only)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tocsin.auth import saml
from tocsin.auth.sso_models import SsoProvider
from tocsin.catalog.schemas import Id, Strict, UserRoleName


class GroupRule(Strict):
    """People in `group` get `role` (the highest of their rules) and/or join `team_id`."""

    group: str = Field(min_length=1, max_length=255)
    role: UserRoleName | None = None
    team_id: Id | None = None


class ProviderPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    enabled: bool | None = None
    issuer: str | None = Field(default=None, max_length=2048, description="OIDC: the issuer URL")
    client_id: str | None = Field(default=None, max_length=255)
    client_secret: str | None = Field(
        default=None, max_length=4096, description="OIDC; write-only, kept when left out"
    )
    scopes: str | None = Field(default=None, max_length=255)
    idp_metadata: str | None = Field(
        default=None, max_length=500_000, description="SAML: the identity provider's metadata XML"
    )
    groups_claim: str | None = Field(default=None, min_length=1, max_length=255)
    require_group: bool | None = None
    default_role: UserRoleName | None = None
    rules: list[GroupRule] | None = None


class ProviderIn(ProviderPatch):
    kind: Literal["oidc", "saml"]
    name: str = Field(min_length=1, max_length=120)


class ProviderOut(BaseModel):
    id: int
    name: str
    kind: str
    enabled: bool
    issuer: str
    client_id: str
    client_secret_set: bool
    scopes: str
    groups_claim: str
    require_group: bool
    default_role: str
    rules: list[GroupRule]
    login_url: str = Field(description="Where a person starts signing in")
    redirect_uri: str | None = Field(description="OIDC: the redirect URI to register")
    acs_url: str | None = Field(description="SAML: the assertion consumer service URL")
    metadata_url: str | None = Field(description="SAML: this service provider's metadata")


def service_data(body: ProviderPatch) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    if "rules" in data and data["rules"] is not None:
        data["rules"] = [dict(rule) for rule in data["rules"]]
    return {key: value for key, value in data.items() if value is not None}


def callback_url(provider_id: int, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/sso/{provider_id}/oidc/callback"


def provider_out(provider: SsoProvider, base_url: str) -> ProviderOut:
    sp = saml.urls(provider.id, base_url)
    is_saml = provider.kind == "saml"
    return ProviderOut(
        id=provider.id,
        name=provider.name,
        kind=provider.kind,
        enabled=provider.enabled,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret_set=bool(provider.client_secret_encrypted),
        scopes=provider.scopes,
        groups_claim=provider.groups_claim,
        require_group=provider.require_group,
        default_role=provider.default_role,
        rules=[GroupRule(group=r.group, role=r.role, team_id=r.team_id) for r in provider.rules],
        login_url=f"{base_url.rstrip('/')}/sso/{provider.id}/start",
        redirect_uri=None if is_saml else callback_url(provider.id, base_url),
        acs_url=sp.acs if is_saml else None,
        metadata_url=sp.entity_id if is_saml else None,
    )
