"""Settings → Postmortem policies: for each severity, whether a postmortem is required and
when its review meeting and draft are due. One form saves every severity at once; a refused
value rolls back all of them and names the severity it is about."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.postmortems import policies
from tocsin.postmortems.models import MeetingUnit
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import Form
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
URL = "/settings/postmortem-policies"


@router.get(URL)
def policies_page(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return render(
        request,
        "settings/postmortem_policies.html",
        {
            "section": "postmortem-policies",
            "rows": policies.all_policies(db),
            "units": [(u.value, u.value.replace("_", " ")) for u in MeetingUnit],
            "defaults": policies.DEFAULT_POLICIES,
            "working_days": settings.working_days,
            "timezone": settings.org_timezone,
        },
    )


@router.post(URL)
def save_policies(db: DbSession, admin: Admin, form: Form) -> Response:
    def save() -> None:
        for severity, _ in policies.all_policies(db):
            prefix = f"s{severity.id}."
            data = {
                "required": form.get(prefix + "required") == "on",
                "meeting_within": _number(form.get(prefix + "meeting_within")),
                "meeting_unit": str(form.get(prefix + "meeting_unit", "")),
                "draft_hours_before": _number(form.get(prefix + "draft_hours_before")),
            }
            try:
                policies.set_policy(db, severity.id, data)
            except ValidationFailed as exc:
                raise ValidationFailed(f"{severity.name}: {exc.message}", field=exc.field) from exc

    return perform(db, URL, save, notice="Postmortem policies saved.")


def _number(value: object) -> int | str:
    """A form's whole number, or the text as typed for `set_policy` to refuse."""
    text = str(value or "").strip()
    number = digits(text, max_digits=6)
    return text if number is None else number
