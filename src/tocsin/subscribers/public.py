"""Public HTML routes under /status/{slug}/: the subscribe form, the confirmation link and the
unsubscribe link (with RFC 8058 one-click). No login: anonymous visitors have no Tocsin
session, so the subscribe form carries a signed, expiring token of its own (`tokens.form_token`)
and the Origin check of `web/csrf.py`; a logged-in visitor's form also carries the session's
CSRF token. Confirm and unsubscribe act only on POST (mail scanners fetch links); their
signed token is the credential."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.deps import AppSettings, DbSession, OptionalUser
from tocsin.errors import DomainError, Forbidden, NotFound
from tocsin.outbound import OutboundGuard
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import checks, limits, service, tokens
from tocsin.subscribers.access import SubscribeAccess
from tocsin.subscribers.limits import Limit, RateLimited
from tocsin.subscribers.links import LinkState, confirm_link, unsubscribe_link
from tocsin.subscribers.models import SubscriberKind
from tocsin.subscribers.queries import display_address
from tocsin.subscribers.urls import page_url
from tocsin.web.csrf import check_csrf
from tocsin.web.forms import Form, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

# Runs after `optional_user` (parameters are resolved in order): a logged-in browser must
# send its session's CSRF token; every unsafe request must come from this origin.
CsrfChecked = Annotated[None, Depends(check_csrf)]


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _page(db: Session, slug: str) -> StatusPage:
    page = service.page_by_slug(db, slug)
    if not page.allow_subscribers:
        raise NotFound(f"{page.name} does not take subscribers")
    return page


def _layout(page: StatusPage) -> list[dict[str, Any]]:
    """The page's components for the checklist: ungrouped ones, then each group's."""
    sections: list[dict[str, Any]] = []
    loose = [c for c in page.components if c.group_id is None]
    if loose:
        sections.append({"name": None, "components": loose})
    for group in page.groups:
        members = [c for c in page.components if c.group_id == group.id]
        if members:
            sections.append({"name": group.name, "components": members})
    return sections


def _context(page: StatusPage, settings: Any, **extra: Any) -> dict[str, Any]:
    return {
        "page": page,
        "page_link": page_url(page, settings),
        "slug": page.slug,
        **extra,
    }


def _form_page(
    request: Request,
    page: StatusPage,
    settings: Any,
    *,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = _context(
        page,
        settings,
        sections=_layout(page),
        form_token=tokens.form_token(settings.secret_key, page.id),
        error=error,
        field=field,
        values=values or {"components": []},
        resend_minutes=settings.subscriber_confirm_resend_minutes,
        confirm_hours=settings.subscriber_confirm_hours,
    )
    return _private(render(request, "subscribers/subscribe.html", context, status))


def _values(form: FormData) -> dict[str, Any]:
    return {
        "email": text(form, "email")[:300],
        "endpoint": text(form, "endpoint")[:2100],
        "components": [c for c in form.getlist("components") if isinstance(c, str)],
        "mode": text(form, "mode"),
    }


def _check_access(request: Request, page: StatusPage, user: Any, access: Any) -> None:
    if not access(request, page, user):
        raise Forbidden(
            f"{page.name} is a private status page: log in to Tocsin to subscribe to it."
        )


@router.get("/status/{slug}/subscribe")
def subscribe_form(
    slug: str,
    request: Request,
    db: DbSession,
    user: OptionalUser,
    settings: AppSettings,
    access: SubscribeAccess,
) -> Response:
    page = _page(db, slug)
    _check_access(request, page, user, access)
    return _form_page(request, page, settings)


def _limited(request: Request, page: StatusPage, settings: Any, exc: RateLimited) -> Response:
    response = render(
        request,
        "subscribers/limited.html",
        _context(page, settings, message=exc.message, retry_after=exc.retry_after),
        429,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return _private(response)


@router.post("/status/{slug}/subscribe")
def subscribe(
    slug: str,
    request: Request,
    db: DbSession,
    user: OptionalUser,
    _csrf: CsrfChecked,
    settings: AppSettings,
    access: SubscribeAccess,
    form: Form,
) -> Response:
    """Every answer looks the same whether or not the address was subscribed already, so the
    form does not tell strangers who subscribes to what."""
    page = _page(db, slug)
    _check_access(request, page, user, access)
    values = _values(form)
    if not tokens.form_token_valid(settings.secret_key, text(form, "form_token"), page.id):
        return _form_page(
            request, page, settings, values=values, status=400,
            error="This form has expired. Please check your choices and send it again.",
        )  # fmt: skip
    host = request.client.host if request.client else None
    try:
        # Counted before the input is checked: bad requests count too.
        limits.hit(
            db, Limit(limits.client_key(host), settings.subscribe_limit_per_ip, "from your network")
        )
    except RateLimited as exc:
        return _limited(request, page, settings, exc)
    email = values["email"] if values["mode"] != "webhook" else ""
    endpoint = values["endpoint"] if values["mode"] == "webhook" else ""
    if not values["mode"]:
        email, endpoint = values["email"], values["endpoint"]
    try:
        checked = checks.check_request(
            db, page, email=email, endpoint=endpoint, component_ids=values["components"],
            guard=OutboundGuard.from_settings(settings),
        )  # fmt: skip
    except DomainError as exc:
        return _form_page(
            request, page, settings, error=exc.message, field=exc.field, values=values,
            status=exc.status_code,
        )  # fmt: skip
    if checked.kind == SubscriberKind.email:
        try:
            limits.hit(
                db,
                Limit(
                    limits.address_key(checked.address),
                    settings.subscribe_limit_per_address,
                    "for this address",
                ),
            )
        except RateLimited as exc:
            return _limited(request, page, settings, exc)
    outcome = service.subscribe(db, page, checked, settings=settings)
    context = _context(
        page,
        settings,
        kind=checked.kind,
        address=display_address(outcome.subscriber),
        resend_minutes=settings.subscriber_confirm_resend_minutes,
    )
    return _private(render(request, "subscribers/subscribed.html", context))


# --- the confirmation link ------------------------------------------------------------------


def _link_page(
    request: Request, page: StatusPage, settings: Any, state: LinkState, **extra: Any
) -> Response:
    subscriber = state.subscriber
    context = _context(
        page,
        settings,
        state=state,
        address=display_address(subscriber) if subscriber is not None else "",
        **extra,
    )
    return _private(render(request, "subscribers/link.html", context, state.status_code))


@router.get("/status/{slug}/subscribe/confirm/{token}")
def confirm_page(
    slug: str, token: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    """Show what confirming does; only the button (a POST) confirms."""
    page = service.page_by_slug(db, slug)
    state = confirm_link(db, page, token, settings.secret_key)
    return _link_page(request, page, settings, state, action="confirm", token=token)


@router.post("/status/{slug}/subscribe/confirm/{token}")
def confirm(
    slug: str, token: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    page = service.page_by_slug(db, slug)
    state = confirm_link(db, page, token, settings.secret_key)
    result = None
    if state.problem is None and state.subscriber is not None:
        result = service.confirm(db, state.subscriber)
    return _link_page(request, page, settings, state, action="confirm", token=token, result=result)


# --- the unsubscribe link -------------------------------------------------------------------


@router.get("/status/{slug}/unsubscribe/{token}")
def unsubscribe_page(
    slug: str, token: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    page = service.page_by_slug(db, slug)
    state = unsubscribe_link(db, page, token, settings.secret_key)
    return _link_page(request, page, settings, state, action="unsubscribe", token=token)


@router.post("/status/{slug}/unsubscribe/{token}")
def unsubscribe(
    slug: str, token: str, request: Request, db: DbSession, settings: AppSettings
) -> Response:
    """The button on the page above, and RFC 8058 one-click (a POST of
    `List-Unsubscribe=One-Click` from the mail client): no form token but the link's own."""
    page = service.page_by_slug(db, slug)
    state = unsubscribe_link(db, page, token, settings.secret_key)
    result = None
    if state.problem is None and state.subscriber is not None:
        result = "unsubscribed" if service.unsubscribe(db, state.subscriber) else "already"
    return _link_page(
        request, page, settings, state, action="unsubscribe", token=token, result=result
    )
