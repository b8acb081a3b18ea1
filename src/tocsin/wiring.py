"""Composition root for how domains meet without importing each other.

- `build_bus`: each domain's reactions to the events of the domains it builds on;
  `session_factory` is the one session factory, whose sessions carry that bus.
- `build_cards`: the cards a domain shows on another's page (the incident page's paging,
  communication, status page, postmortem and recurrence cards, its alerts and runbooks, and
  the resolve form's offer to tell customers; a service's followers; the services a person
  follows).
- `build_checks`: every domain's part of `tocsin check`.
- `audited_configuration`: the models whose changes the audit trail records, how each row is
  named and which fields never show a value.

Only this module (with `bootstrap` and `app`) knows both sides; see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts import models as alert_models
from tocsin.alerts.present import incident_alerts
from tocsin.audit import trail
from tocsin.audit.changes import Audited, ConfigChanges
from tocsin.auth.events import PasswordResetRequested
from tocsin.auth.sso_models import SsoGroupRule, SsoProvider
from tocsin.bus import Bus, session_info
from tocsin.catalog.models import Service, Team, User
from tocsin.chat import models as chat_models
from tocsin.chat import reactions as chat
from tocsin.chat import views as chat_views
from tocsin.comms import checks as comms_checks
from tocsin.comms import followers as comms_followers
from tocsin.comms import models as comms_models
from tocsin.comms import panel as comms_panel
from tocsin.comms import sending as comms_sending
from tocsin.comms import stakeholders as comms_stakeholders
from tocsin.config import Settings
from tocsin.db import make_sessionmaker
from tocsin.definitions import models as definition_models
from tocsin.escalation import checks as escalation_checks
from tocsin.escalation import engine as escalation
from tocsin.escalation import models as escalation_models
from tocsin.escalation import record as paging_record
from tocsin.findings import Checks, Finding
from tocsin.followups import views as followup_views
from tocsin.incidents import events as incident_events
from tocsin.incidents.models import Incident
from tocsin.notify import mails
from tocsin.notify import models as notify_models
from tocsin.notify import shifts as shift_notices
from tocsin.notify.events import NotificationSent
from tocsin.plan.models import PlanSettings
from tocsin.postmortems import models as postmortem_models
from tocsin.postmortems import publishing as postmortem_publishing
from tocsin.postmortems import service as postmortems
from tocsin.postmortems import views as postmortem_views
from tocsin.postmortems.events import PostmortemPublished
from tocsin.postmortems.policies import calendar_from
from tocsin.postmortems.workdays import WorkCalendar
from tocsin.roster import notices as role_notices
from tocsin.roster import views as roster_views
from tocsin.roster.models import RosterEntry
from tocsin.runbooks import checks as runbook_checks
from tocsin.runbooks import models as runbook_models
from tocsin.runbooks import service as runbooks
from tocsin.runbooks import views as runbook_views
from tocsin.schedules import models as schedule_models
from tocsin.schedules.events import ScheduleChanged
from tocsin.simulation import views as simulation_views
from tocsin.statuspages import models as statuspage_models
from tocsin.statuspages import publish as statuspage_publish
from tocsin.statuspages.composer import composer_panel, resolve_card, resolve_submit
from tocsin.statuspages.events import PageEvent
from tocsin.subscribers import service as subscribers
from tocsin.targets import service as targets
from tocsin.trackers import views as tracker_views
from tocsin.trackers.models import TrackerConnection
from tocsin.web.cards import (
    ACTION_ITEMS,
    INCIDENT,
    INCIDENT_MAIN,
    INCIDENT_RESOLVE,
    INCIDENT_ROLES,
    SERVICE,
    USER_NOTIFICATIONS,
    Card,
    Cards,
    viewer,
)
from tocsin.webhooks import checks as webhook_checks
from tocsin.webhooks import fanout as webhooks
from tocsin.webhooks.models import WebhookSubscription
from tocsin.workflows import checks as workflow_checks
from tocsin.workflows import engine as workflows
from tocsin.workflows import triggers as workflow_triggers
from tocsin.workflows import views as workflow_views
from tocsin.workflows.models import Workflow


def build_bus(settings: Settings | None = None) -> Bus:
    """Every reaction, subscribed in the order it runs. `settings` gives the organisation's
    calendar for postmortem deadlines and next-business-day response targets (without:
    Monday to Friday, UTC)."""
    calendar = calendar_from(settings) if settings is not None else WorkCalendar()
    bus = Bus()
    # An incident declared: the followers of its services become stakeholders, and paging
    # starts (after commit).
    bus.subscribe(incident_events.IncidentDeclared, comms_followers.on_incident_declared)
    bus.subscribe(incident_events.IncidentDeclared, escalation.on_incident_declared)
    # … and the runbooks that attach themselves to its type or services are attached.
    bus.subscribe(incident_events.IncidentDeclared, runbooks.on_incident_declared)
    # … and its first response is timed against the severity's target; the due time moves
    # with the severity until someone responds, and with a corrected detection time.
    bus.subscribe(
        incident_events.IncidentDeclared, partial(targets.on_incident_declared, week=calendar)
    )
    bus.subscribe(
        incident_events.IncidentSeverityChanged,
        partial(targets.on_incident_severity_changed, week=calendar),
    )
    bus.subscribe(
        incident_events.IncidentTimestampsEdited,
        partial(targets.on_incident_timestamps_edited, week=calendar),
    )
    # A role given (a commander named when declaring, a holder added, command handed over):
    # the new holder is emailed the role's responsibilities (after commit).
    bus.subscribe(incident_events.IncidentDeclared, role_notices.on_incident_declared)
    bus.subscribe(incident_events.RoleAssigned, role_notices.on_role_assigned)
    # Acknowledged: its paging stops.
    bus.subscribe(incident_events.IncidentStatusChanged, escalation.on_incident_status_changed)
    # Resolved: a postmortem when the severity's policy requires one, with its deadlines.
    bus.subscribe(
        incident_events.IncidentStatusChanged,
        partial(postmortems.on_incident_status_changed, calendar=calendar),
    )
    # Edited: status pages withdraw an incident that became a drill or restricted; followers of
    # newly affected services (or kept out until a restriction or drill ended) join it.
    bus.subscribe(incident_events.IncidentEdited, statuspage_publish.on_incident_edited)
    bus.subscribe(incident_events.IncidentEdited, comms_followers.on_incident_edited)
    # An update posted: it goes to the stakeholders and the matching channels.
    bus.subscribe(incident_events.UpdatePosted, comms_sending.on_update_posted)
    # A schedule changed: the people whose shifts changed are told.
    bus.subscribe(ScheduleChanged, shift_notices.on_schedule_changed)
    # A status page published an update, a component change or a maintenance reminder: its
    # subscribers are told.
    bus.subscribe(PageEvent, subscribers.on_page_event_published)
    # A postmortem published: its incident's stakeholders (comms' knowledge) are emailed.
    bus.subscribe(PostmortemPublished, _tell_stakeholders_of_postmortem)
    bus.subscribe(PasswordResetRequested, _mail_password_reset)
    # Chat: an incident of a severity with channels gets one in each chat connection; its
    # header follows every change it shows (status, severity, roles, people paged, the next
    # update); updates are posted there; a closed incident's channels are archived later.
    base_url = settings.public_url() if settings else ""
    bus.subscribe(
        incident_events.IncidentDeclared, partial(chat.on_incident_declared, base_url=base_url)
    )
    bus.subscribe(incident_events.IncidentSeverityChanged, chat.on_incident_severity_changed)
    bus.subscribe(incident_events.IncidentStatusChanged, chat.on_incident_status_changed)
    bus.subscribe(incident_events.RoleAssigned, chat.on_changed)
    bus.subscribe(incident_events.IncidentEdited, chat.on_changed)
    bus.subscribe(NotificationSent, chat.on_changed)
    bus.subscribe(incident_events.UpdatePosted, partial(chat.on_update_posted, base_url=base_url))
    # Workflows: one run per matching workflow, queued in the change's transaction (after the
    # domains' own reactions, so a run sees what they did).
    for event_type in workflow_triggers.EVENT_TYPES:
        bus.subscribe(event_type, workflows.on_event)
    # Outbound event webhooks, last for each event: one delivery per matching subscription.
    react = partial(webhooks.on_event, base_url=settings.base_url if settings else "")
    for event_type in webhooks.EVENT_TYPES:
        bus.subscribe(event_type, react)
    return bus


def _tell_stakeholders_of_postmortem(session: Session, event: PostmortemPublished) -> None:
    """Postmortems and comms do not know each other: comms says who the incident's
    stakeholders are (those who may see it), postmortems emails them."""
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    allowed, _refused = comms_stakeholders.recipients(session, incident)
    people = [(r.user, r.reason) for r in allowed]
    postmortem_publishing.tell_stakeholders(session, event, people)


def _mail_password_reset(session: Session, event: PasswordResetRequested) -> None:
    """Auth sits below notify: notify mails the reset link, after commit, as a plain mail."""
    user = session.get(User, event.user_id)
    if user is None:
        return
    asked = "An admin asked" if event.by_id is not None else "Someone (we hope you) asked"
    body = (
        f"{asked} to reset the password of your Tocsin account ({user.email}).\n\n"
        f"Open the link below within {event.minutes} minutes to choose a new password. It "
        "works once, and signs you out everywhere.\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is."
    )
    mails.plan(
        session,
        key=f"password-reset:{event.reset_id}",
        kind="password_reset",
        user=user,
        subject="Reset your Tocsin password",
        body=body,
        link=event.path,
    )


def session_factory(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """The session factory every process uses: its sessions emit through `build_bus()`, and
    seal their audit records at commit, with the configuration changes they flush."""
    factory = make_sessionmaker(engine, info=session_info(build_bus(settings)))
    trail.install(factory)
    ConfigChanges(audited_configuration()).install(factory)
    return factory


def build_cards() -> Cards:
    """The cards other domains show on a page, in the order they are shown."""
    cards = Cards()
    cards.add(INCIDENT, Card("paging", "escalation/panel.html", _paging_card))
    cards.add(INCIDENT, Card("comms", "comms/panel.html", _communication_card))
    cards.add(INCIDENT, Card("statuspage", "statuspages/_composer.html", composer_panel))
    cards.add(
        INCIDENT, Card("postmortem_card", "postmortems/card.html", postmortem_views.card_context)
    )
    cards.add(INCIDENT_MAIN, Card("incident_alerts", "alerts/panel.html", _alerts_card))
    cards.add(INCIDENT_ROLES, Card("roster", "roster/card.html", roster_views.card_context))
    cards.add(
        INCIDENT_MAIN, Card("runbooks_card", "runbooks/card.html", runbook_views.card_context)
    )
    cards.add(
        INCIDENT_MAIN, Card("workflows_card", "workflows/card.html", workflow_views.card_context)
    )
    cards.add(
        INCIDENT, Card("recurrence", "followups/recurrence.html", followup_views.recurrence_card)
    )
    cards.add(INCIDENT, Card("chat_card", "chat/card.html", chat_views.card_context))
    cards.add(
        INCIDENT_RESOLVE,
        Card("resolve_offers", "statuspages/_resolve_offers.html", resolve_card, resolve_submit),
    )
    cards.add(SERVICE, Card("followers", "comms/followers.html", _followers_card))
    cards.add(SERVICE, Card("simulation", "simulation/card.html", simulation_views.card_context))
    cards.add(USER_NOTIFICATIONS, Card("followed", "comms/followed.html", _followed_card))
    cards.add(ACTION_ITEMS, Card("trackers", "trackers/item.html", tracker_views.item_card))
    return cards


def _alerts_card(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    return incident_alerts(db, incident.id)


def _paging_card(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    return paging_record.panel_context(db, incident)


def _communication_card(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    return comms_panel.panel_context(db, incident, viewer(request))


def _followers_card(db: Session, service: Service, request: Request) -> dict[str, Any]:
    return comms_followers.card_context(db, service, viewer(request))


def _followed_card(db: Session, owner: User, request: Request) -> list[tuple[Service, list[str]]]:
    return comms_followers.followed_by(db, owner)


def build_checks() -> Checks:
    """What `tocsin check` runs: paging's checks, then communication's, webhooks',
    runbooks' and workflows'."""
    return Checks(
        (
            escalation_checks.paging_findings,
            _deactivated_findings,
            _channel_findings,
            webhook_checks.webhook_findings,
            _runbook_findings,
            _workflow_findings,
        )
    )


def _deactivated_findings(session: Session, now: datetime, weeks: int) -> list[Finding]:
    return escalation_checks.deactivated_findings(session, now)


def _channel_findings(session: Session, now: datetime, weeks: int) -> list[Finding]:
    return comms_checks.channel_findings(session)


def _runbook_findings(session: Session, now: datetime, weeks: int) -> list[Finding]:
    return runbook_checks.runbook_findings(session)


def _workflow_findings(session: Session, now: datetime, weeks: int) -> list[Finding]:
    return workflow_checks.workflow_findings(session)


def _named(text: str, *columns: str) -> Any:
    """A label from the row's own columns: `text` formatted with them."""
    return lambda row: text.format(*(getattr(row, c) for c in columns))


def audited_configuration() -> list[Audited]:
    """The configuration whose changes the audit trail records (`config.<kind>.…`); not
    incidents, alerts, jobs, timelines or deliveries. Secrets, hashes and encrypted fields
    are recorded as changed, never with their value (`audit.changes.secret` catches the
    names too)."""
    email = _named("{}", "email")
    return [
        Audited(User, "user", email, hidden=frozenset({"password_hash"})),
        Audited(Team, "team", collections=("members",), member_label=email),
        Audited(Service, "service"),
        Audited(alert_models.Integration, "integration", hidden=frozenset({"key_hash"}),
                ignored=frozenset({"last_event_at"})),
        Audited(alert_models.AlertSettings, "alert_settings",
                _named("alert settings of service {}", "service_id")),
        Audited(alert_models.RoutingRule, "routing_rule",
                _named("rule {} of integration {}", "position", "integration_id")),
        Audited(alert_models.SuppressionRule, "suppression_rule"),
        Audited(alert_models.MaintenanceWindow, "maintenance_window",
                _named("maintenance of service {}", "service_id")),
        Audited(escalation_models.EscalationPolicy, "escalation_policy"),
        Audited(escalation_models.EscalationLevel, "escalation_level",
                _named("level {} of policy {}", "position", "policy_id")),
        Audited(escalation_models.EscalationTarget, "escalation_target",
                _named("{} target of level {}", "kind", "level_id")),
        Audited(escalation_models.ServicePaging, "service_paging",
                _named("paging of service {}", "service_id")),
        Audited(schedule_models.Schedule, "schedule"),
        Audited(schedule_models.Layer, "schedule_layer",
                ignored=frozenset({"imported_at", "import_report"})),
        Audited(schedule_models.Override, "schedule_override",
                _named("override of schedule {} by user {}", "schedule_id", "user_id")),
        Audited(schedule_models.CalendarFeed, "calendar_feed",
                _named("calendar feed of schedule {}", "schedule_id"),
                hidden=frozenset({"salt"})),
        Audited(definition_models.Severity, "severity"),
        Audited(definition_models.Priority, "priority"),
        Audited(definition_models.IncidentType, "incident_type"),
        Audited(definition_models.CustomField, "custom_field"),
        Audited(definition_models.IncidentRole, "incident_role"),
        Audited(definition_models.UpdateTemplate, "update_template", _named("{}", "phase")),
        Audited(notify_models.ContactMethod, "contact_method", hidden=frozenset({"signing_salt"})),
        Audited(notify_models.NotificationRule, "notification_rule",
                _named("{} rule of user {}", "urgency", "user_id")),
        Audited(comms_models.CommsChannel, "comms_channel", hidden=frozenset({"signing_salt"})),
        Audited(chat_models.ChatConnection, "chat_connection",
                hidden=frozenset({"secrets_encrypted"})),
        Audited(TrackerConnection, "tracker",
                hidden=frozenset({"credential_encrypted", "webhook_secret_encrypted"})),
        Audited(WebhookSubscription, "webhook", hidden=frozenset({"signing_salt"})),
        Audited(Workflow, "workflow", hidden=frozenset({"signing_salt"})),
        Audited(runbook_models.Runbook, "runbook"),
        Audited(runbook_models.RunbookVersion, "runbook_version"),
        Audited(statuspage_models.StatusPage, "status_page",
                hidden=frozenset({"secret_link_hash", "logo"})),
        Audited(statuspage_models.ComponentGroup, "status_page_group"),
        Audited(statuspage_models.Component, "status_page_component",
                ignored=frozenset({"status"})),
        Audited(postmortem_models.PostmortemPolicy, "postmortem_policy",
                _named("postmortem policy of severity {}", "severity_id")),
        Audited(postmortem_models.PostmortemTemplate, "postmortem_template",
                _named("postmortem template of type {}", "incident_type_id")),
        Audited(RosterEntry, "roster_entry", _named("roster entry of role {}", "role_id")),
        Audited(PlanSettings, "plan", _named("response plan")),
        Audited(SsoProvider, "sso_provider", hidden=frozenset({"client_secret_encrypted"})),
        Audited(SsoGroupRule, "sso_group_rule",
                _named("rule for group {} of provider {}", "group", "provider_id")),
    ]  # fmt: skip
