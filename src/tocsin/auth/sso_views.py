"""HTML routes for single sign-on: starting a sign-in, the provider's answer (OpenID
Connect's redirect back, SAML's POST to the ACS), the SAML service provider's metadata, and
Settings → Sign-in, where admins add, edit and remove identity providers.

A refused sign-in answers the login page with the reason (401 for an answer that cannot be
trusted, 403 for a person who may not sign in), changes nothing, and is recorded in the audit
trail as `sso.refused` in a transaction of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.audit.trail import Actor, record_apart
from tocsin.auth import oidc, saml, sso
from tocsin.auth import service as auth
from tocsin.auth.sso_models import SsoProvider
from tocsin.auth.sso_schemas import callback_url, provider_out
from tocsin.auth.views import with_session
from tocsin.catalog.models import Team, User
from tocsin.config import Settings
from tocsin.deps import Admin, AppSettings, DbSession, client_address
from tocsin.errors import Conflict, DomainError, NotFound, ValidationFailed
from tocsin.outbound import OutboundGuard
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, redirect, safe_back, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BACK = "/settings/sign-in"
STATE_COOKIE = "tocsin_sso_state"


def _enabled(db: Session, provider_id: int) -> SsoProvider:
    provider = sso.get_provider(db, provider_id)
    if not provider.enabled:
        raise NotFound(f"no identity provider with id {provider_id}")
    return provider


# --- signing in ------------------------------------------------------------------------------


@router.get("/sso/{provider_id}/start")
def start(
    provider_id: int, request: Request, db: DbSession, settings: AppSettings, next: str = ""
) -> Response:
    """Send the browser to the identity provider."""
    provider = _enabled(db, provider_id)
    target = safe_back(next, "/incidents")
    base = settings.public_url()
    state = sso.new_state()
    try:
        if provider.kind == "oidc":
            found = oidc.authorization(
                provider,
                secret=sso.client_secret(provider, settings),
                redirect_uri=callback_url(provider.id, base),
                state=state,
                guard=OutboundGuard.from_settings(settings),
            )
            sso.begin(
                db,
                provider,
                state=state,
                next=target,
                nonce=found.nonce,
                code_verifier=found.code_verifier,
            )
            location = found.url
        else:
            request_ = saml.authn_request(provider, base_url=base, relay_state=state)
            sso.begin(db, provider, state=state, next=target, request_id=request_.request_id)
            location = request_.url
    except DomainError as exc:
        return _refused(request, db, provider, exc, stage="start")
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(sso.PENDING_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/sso/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/sso/{provider_id}/oidc/callback")
def oidc_callback(
    provider_id: int,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    code: str = "",
    state: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    """The identity provider sends the browser back here with a code (or an error)."""
    provider = _enabled(db, provider_id)
    try:
        if provider.kind != "oidc":
            raise sso.SsoRefused("this identity provider does not use OpenID Connect")
        pending = sso.take_pending(db, provider, state, request.cookies.get(STATE_COOKIE))
        if error:
            raise sso.SsoRefused(
                f"the identity provider did not sign you in: {error[:100]}"
                + (f" ({error_description[:200]})" if error_description else "")
            )
        claims = oidc.finish(
            provider,
            pending,
            code=code,
            secret=sso.client_secret(provider, settings),
            redirect_uri=callback_url(provider.id, settings.public_url()),
            guard=OutboundGuard.from_settings(settings),
        )
        user = sso.sign_in(db, provider, claims, address=client_address(request))
    except DomainError as exc:
        return _refused(request, db, provider, exc, stage="callback")
    return _signed_in(db, settings, user, pending.next)


@router.post("/sso/{provider_id}/saml/acs")
def saml_acs(
    provider_id: int, request: Request, db: DbSession, settings: AppSettings, form: Form
) -> Response:
    """The identity provider POSTs its SAMLResponse here (HTTP-POST binding). A cross-site
    POST: no CSRF token, and the state cookie (SameSite=Lax) does not come with it; the
    RelayState, the request id it answers and the signature bind it to the sign-in."""
    provider = _enabled(db, provider_id)
    relay_state = text(form, "RelayState")
    try:
        if provider.kind != "saml":
            raise sso.SsoRefused("this identity provider does not use SAML")
        pending = sso.take_pending(db, provider, relay_state, relay_state)
        claims = saml.consume(
            db,
            provider,
            pending,
            saml_response=text(form, "SAMLResponse"),
            base_url=settings.public_url(),
        )
        user = sso.sign_in(db, provider, claims, address=client_address(request))
    except DomainError as exc:
        return _refused(request, db, provider, exc, stage="acs")
    return _signed_in(db, settings, user, pending.next)


@router.get("/sso/{provider_id}/saml/metadata.xml")
def saml_metadata(provider_id: int, db: DbSession, settings: AppSettings) -> Response:
    """This service provider's metadata, for the identity provider."""
    provider = sso.get_provider(db, provider_id)
    if provider.kind != "saml":
        raise NotFound(f"identity provider {provider_id} does not use SAML")
    body = saml.sp_metadata(provider.id, settings.public_url())
    return Response(body, media_type="application/samlmetadata+xml")


def _signed_in(db: Session, settings: Settings, user: User, target: str) -> Response:
    _, secret = auth.start_web_session(
        db, user, max_age=timedelta(hours=settings.session_max_age_hours)
    )
    redirect_to = RedirectResponse(safe_back(target, "/incidents"), status_code=303)
    response = with_session(redirect_to, secret, settings)
    response.delete_cookie(STATE_COOKIE, path="/sso/")
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(
    request: Request, db: Session, provider: SsoProvider, exc: DomainError, *, stage: str
) -> Response:
    """Undo everything, record the refusal apart, and show the login page with the reason."""
    provider_id, name = provider.id, provider.name
    db.rollback()
    address = client_address(request)
    record_apart(
        request.app.state.sessionmaker,
        "sso.refused",
        actor=Actor(None, "anonymous", "anonymous", address),
        target_type="sso_provider",
        target_id=provider_id,
        target=name,
        detail={"provider": name, "stage": stage, "reason": exc.message},
        outcome="refused",
    )
    status = exc.status_code if exc.status_code in (401, 403, 404, 409) else 401
    response = render(
        request,
        "login.html",
        {
            "next": "/incidents",
            "email": "",
            "error": f"Signing in with {name} failed: {exc.message}",
            "providers": sso.list_providers(db, enabled_only=True),
        },
        status,
    )
    # The state cookie stays: a forged answer must not spoil the genuine one on its way.
    return response


# --- Settings → Sign-in -----------------------------------------------------------------------


def _rules_text(provider: SsoProvider) -> str:
    lines = []
    for rule in provider.rules:
        lines.append(", ".join([rule.group, rule.role or "", rule.team.name if rule.team else ""]))
    return "\n".join(lines)


def _parse_rules(db: Session, value: str) -> list[dict[str, Any]]:
    """One rule a line: `group, role, team name` (role or team may be empty)."""
    rules = []
    teams = {team.name.lower(): team.id for team in db.scalars(select(Team)).all()}
    for number, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) > 3:
            raise ValidationFailed(
                f"group rules, line {number}: write `group, role, team` (three parts at most)",
                field="rules",
            )
        parts += [""] * (3 - len(parts))
        group, role, team = parts
        rule: dict[str, Any] = {"group": group, "role": role or None, "team_id": None}
        if team:
            if team.lower() not in teams:
                raise ValidationFailed(
                    f"group rules, line {number}: no team named {team!r}", field="rules"
                )
            rule["team_id"] = teams[team.lower()]
        rules.append(rule)
    return rules


def _provider_form(db: Session, form: FormData, *, new: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": text(form, "name"),
        "enabled": checkbox(form, "enabled"),
        "groups_claim": text(form, "groups_claim") or "groups",
        "require_group": checkbox(form, "require_group"),
        "default_role": text(form, "default_role") or "viewer",
        "rules": _parse_rules(db, text(form, "rules")),
    }
    kind = text(form, "kind") if new else ""
    if new:
        data["kind"] = kind
    for name in ("issuer", "client_id", "scopes", "idp_metadata"):
        if name in form:
            data[name] = text(form, name)
    if text(form, "client_secret").strip():
        data["client_secret"] = text(form, "client_secret")
    return data


def _page(
    request: Request,
    db: Session,
    settings: Settings,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    providers = sso.list_providers(db)
    base = settings.public_url()
    context = {
        "section": "sign-in",
        "providers": providers,
        "described": {p.id: provider_out(p, base) for p in providers},
        "rules_text": {p.id: _rules_text(p) for p in providers},
        "error": error,
        "form": {k: v for k, v in (form or {}).items() if k != "client_secret"},
    }
    response = render(request, "settings/sign_in.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/sign-in")
def providers_page(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    return _page(request, db, settings)


@router.post("/settings/sign-in")
def create_provider(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    try:
        provider = sso.create_provider(
            db,
            _provider_form(db, form, new=True),
            settings=settings,
            check_metadata=saml.check_metadata,
        )
    except DomainError as exc:
        db.rollback()
        status = 409 if isinstance(exc, Conflict) else 422
        return _page(request, db, settings, error=exc.message, form=values(form), status=status)
    return redirect(BACK, notice=f"{provider.name} added. Give it the URLs shown below.")


@router.post("/settings/sign-in/{provider_id}")
def update_provider(
    provider_id: int, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    provider = sso.get_provider(db, provider_id)
    return perform(
        db,
        BACK,
        lambda: sso.update_provider(
            db,
            provider,
            _provider_form(db, form, new=False),
            settings=settings,
            check_metadata=saml.check_metadata,
        ),
        notice="Identity provider saved.",
    )


@router.post("/settings/sign-in/{provider_id}/delete")
def delete_provider(provider_id: int, db: DbSession, admin: Admin) -> Response:
    provider = sso.get_provider(db, provider_id)
    return perform(
        db, BACK, lambda: sso.delete_provider(db, provider), notice="Identity provider removed."
    )


def login_providers(db: Session) -> list[SsoProvider]:
    """The providers the login page offers."""
    return sso.list_providers(db, enabled_only=True)
