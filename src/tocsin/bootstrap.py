"""Composition root: builds the engine, session factory and job registry from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts.heartbeat import check_heartbeats_job
from tocsin.alerts.inbox import Inbox
from tocsin.alerts.intake import Intake
from tocsin.alerts.pipeline import purge as purge_events
from tocsin.alerts.writer import EventWriter
from tocsin.auditing import tasks as audit_tasks
from tocsin.auth import tasks as auth_tasks
from tocsin.comms import due as comms_due
from tocsin.comms.delivery import job_handlers as comms_job_handlers
from tocsin.config import Settings
from tocsin.db import make_engine, utcnow
from tocsin.escalation import engine
from tocsin.incidents.updates import remind_if_update_overdue
from tocsin.jobs import builtin as jobs_builtin
from tocsin.jobs.engine import Engine as Background
from tocsin.jobs.engine import Work
from tocsin.jobs.registry import JobKind, JobRegistry, PeriodicJob
from tocsin.jobs.runner import JobMetricsSink, JobRunner

# Every model, so that relationships between domains resolve in any process (a worker imports
# no routes).
from tocsin import models  # noqa: F401  isort: skip
from tocsin.chat import paging as chat_paging
from tocsin.chat import sync as chat_sync
from tocsin.chat import tasks as chat_tasks
from tocsin.followups import mail as followup_mail
from tocsin.insights import report as insights_report
from tocsin.notify import mails as notify_mails
from tocsin.notify.channels import build_channels
from tocsin.notify.pages import job_handlers as notify_job_handlers
from tocsin.notify.shift_delivery import job_handlers as shift_job_handlers
from tocsin.postmortems import mails as postmortem_mails
from tocsin.postmortems import reminders as postmortem_reminders
from tocsin.roster import notices as role_notices
from tocsin.statuspages import jobs as statuspage_jobs
from tocsin.subscribers import delivery as subscriber_delivery
from tocsin.targets import reminders as target_reminders
from tocsin.targets import service as targets
from tocsin.trackers import sync as tracker_sync
from tocsin.webhooks import delivery as webhook_delivery
from tocsin.wiring import session_factory
from tocsin.workflows import delivery as workflow_delivery
from tocsin.workflows import engine as workflows
from tocsin.workflows import timers as workflow_timers


def _update_due(session: Session, payload: dict[str, Any]) -> None:
    remind_if_update_overdue(session, payload["incident_id"], payload["update_id"])


def _comms_due(session: Session, payload: dict[str, Any]) -> None:
    due_at = datetime.fromisoformat(payload["due_at"])
    comms_due.remind(session, payload["incident_id"], payload["channel_id"], due_at)


def _comms_scan(session: Session, payload: dict[str, Any]) -> None:
    comms_due.scan(session)


def _start_paging(session: Session, payload: dict[str, Any]) -> None:
    engine.start_for_incident(session, payload["incident_id"])


def _escalation_step(session: Session, payload: dict[str, Any]) -> None:
    engine.run_step(session, payload["run_id"], payload["cycle"], payload["level"])


PURGE_EVENTS_JOB = "alerts.purge_events"


def _purge_events_handler(settings: Settings) -> Any:
    def run(session: Session, payload: dict[str, Any]) -> None:
        purge_events(
            session,
            now=utcnow(),
            raw_days=settings.event_raw_retention_days,
            event_days=settings.event_retention_days,
        )

    return run


def build_registry(settings: Settings) -> JobRegistry:
    """Every job kind Tocsin knows, and the periodic ones' schedule, registered explicitly
    here and nowhere else."""
    registry = JobRegistry()
    registry.register(JobKind("incidents.update_due", _update_due, max_attempts=3))
    # Deliveries retry and fall back on their own (notify/delivery.py); the registry's retry
    # covers only an unexpected error such as a lost database connection.
    channels = build_channels(settings)
    # Pages in chat: notify sends them as any channel; chat says where (its connection and
    # the person's linked account), read in the delivery's transaction.
    channels.by_kind["chat"] = chat_paging.channel(settings)
    channels.prepare["chat"] = chat_paging.destination
    handlers = notify_job_handlers(channels, settings)
    registry.register(JobKind("notify.deliver", handlers["notify.deliver"], max_attempts=3))
    registry.register(JobKind("notify.test", handlers["notify.test"], max_attempts=1))
    # Shift notices: the scan plans them (a missed minute is made up by the next scan, which
    # looks back ten minutes); each notice retries its failed methods itself.
    shift_handlers = shift_job_handlers(channels, settings)
    registry.register(
        JobKind("notify.shift_scan", shift_handlers["notify.shift_scan"], max_attempts=1,
                timeout_seconds=60)
    )  # fmt: skip
    registry.register(
        JobKind("notify.shift_notice", shift_handlers["notify.shift_notice"], max_attempts=3)
    )
    # A missed slot is made up by the next one: no retries, and a short timeout.
    registry.register(
        JobKind("alerts.check_heartbeats", check_heartbeats_job, max_attempts=1,
                timeout_seconds=30)
    )  # fmt: skip
    # Retention of received events: raw bodies, then the events themselves.
    registry.register(
        JobKind(PURGE_EVENTS_JOB, _purge_events_handler(settings), max_attempts=1,
                timeout_seconds=600)
    )  # fmt: skip
    registry.every(PeriodicJob(PURGE_EVENTS_JOB, every=timedelta(hours=1)))
    registry.register(
        JobKind(
            jobs_builtin.PURGE,
            jobs_builtin.purge_handler(settings.job_retention_days),
            max_attempts=1,
        )
    )
    registry.register(JobKind(jobs_builtin.PROBE, jobs_builtin.probe, max_attempts=3))
    registry.every(PeriodicJob("alerts.check_heartbeats", every=timedelta(seconds=5)))
    registry.every(PeriodicJob(jobs_builtin.PURGE, every=timedelta(hours=1)))
    registry.every(PeriodicJob("notify.shift_scan", every=timedelta(minutes=1)))
    # Stakeholder communication: deliveries retry on their own like pages; the scan queues
    # a job at each channel's due time (a missed minute is made up by the next scan).
    comms_handlers = comms_job_handlers(channels, settings)
    registry.register(JobKind("comms.deliver", comms_handlers["comms.deliver"], max_attempts=3))
    registry.register(JobKind(comms_due.DUE_JOB, _comms_due, max_attempts=3))
    registry.register(JobKind(comms_due.SCAN_JOB, _comms_scan, max_attempts=1, timeout_seconds=60))
    registry.every(PeriodicJob(comms_due.SCAN_JOB, every=timedelta(minutes=1)))
    # Postmortem reminders: a timer per reminder, queued when a deadline is set; each email
    # is a plain mail (below), checked again when it is sent.
    registry.register(
        JobKind(postmortem_reminders.TIMER_JOB, postmortem_reminders.remind, max_attempts=3)
    )
    # Response targets: the reminder and the breach check of each due time (timers that do
    # nothing if the due time changed or the incident responded); each email is a plain mail
    # (below), checked again when it is sent.
    registry.register(JobKind(targets.REMIND_JOB, targets.remind_job, max_attempts=3))
    registry.register(JobKind(targets.CHECK_JOB, targets.check_job, max_attempts=3))
    registry.register(JobKind(engine.START_JOB, _start_paging, max_attempts=5, backoff_base=1.0))
    registry.register(JobKind(engine.STEP_JOB, _escalation_step, max_attempts=5, backoff_base=1.0))
    # Status pages: renders, maintenance timers, the export hook (statuspages/jobs.py).
    for kind in statuspage_jobs.job_kinds(settings):
        registry.register(kind)
    for periodic in statuspage_jobs.periodic():
        registry.every(periodic)
    # Status page subscribers: each delivery retries and quarantines on its own
    # (subscribers/delivery.py); the registry's retry covers only an unexpected error.
    for kind in subscriber_delivery.job_kinds(settings):
        registry.register(kind)
    registry.every(PeriodicJob(subscriber_delivery.HOUSEKEEPING_JOB, every=timedelta(hours=1)))
    # Outbound event webhooks: each delivery retries on its own (webhooks/delivery.py).
    for kind in webhook_delivery.job_kinds(settings):
        registry.register(kind)
    # Follow-ups: the hourly scan plans owners' reminders and teams' weekly digests, each
    # once (followups/mail.py), as plain mails (below).
    for kind in followup_mail.job_kinds(settings):
        registry.register(kind)
    for periodic in followup_mail.periodic():
        registry.every(periodic)
    # Plain mails to people (notify/mails.py), with the kinds whose domains check at send
    # time that they are still wanted (response target and postmortem reminders; role
    # notices, the email telling someone they were given a role; follow-up reminders and
    # digests) or name them on the timeline (postmortems' review requests and publication
    # news); and the weekly Insights report that plans them from an hourly scan, once per
    # team, week and person (insights/report.py).
    mail_kinds = [
        target_reminders.MAIL_KIND,
        role_notices.MAIL_KIND,
        postmortem_reminders.MAIL_KIND,
        *postmortem_mails.MAIL_KINDS,
        *followup_mail.MAIL_KINDS,
    ]
    for kind in notify_mails.job_kinds(settings, mail_kinds):
        registry.register(kind)
    for kind in insights_report.job_kinds(settings):
        registry.register(kind)
    for periodic in insights_report.periodic():
        registry.every(periodic)
    # Issue trackers: creating or linking a follow-up's issue retries on its own
    # (trackers/sync.py); the poll reads every linked issue's state.
    for kind in tracker_sync.job_kinds(settings):
        registry.register(kind)
    registry.every(tracker_sync.periodic(settings))
    # Chat: a channel's upkeep (create, invite, header, pins, archive) retries on its own
    # (chat/sync.py); posts, pins, links and joins with the registry's retries; Mattermost
    # channels are read for what it does not push.
    for kind in [*chat_sync.job_kinds(settings), *chat_tasks.job_kinds(settings)]:
        registry.register(kind)
    for periodic_job in chat_tasks.periodic(settings):
        registry.every(periodic_job)
    # Workflows: each run after the change that triggered it commits (a repeated event runs
    # nothing: the job's key); the timers check, when due, that nothing happened meanwhile.
    # An action's unexpected error fails the run, not the job (workflows/engine.py); the
    # registry's retry covers only a lost connection. Emails and webhook calls are deliveries.
    registry.register(
        JobKind(workflows.RUN_JOB, workflows.run_handler(settings.base_url), max_attempts=3)
    )
    registry.register(JobKind(workflow_timers.TIMER_JOB, workflows.timer_job, max_attempts=3))
    for kind in workflow_delivery.job_kinds(channels, settings):
        registry.register(kind)
    # The audit trail: records past the retention period are purged (the chain still
    # verifies from the last one purged).
    for kind in audit_tasks.job_kinds(settings):
        registry.register(kind)
    for periodic_job in audit_tasks.periodic():
        registry.every(periodic_job)
    # Sign-in housekeeping: expired sessions, reset links, pending SSO sign-ins, used SAML
    # assertion ids and forgotten failed-login counts.
    for kind in auth_tasks.job_kinds():
        registry.register(kind)
    for periodic_job in auth_tasks.periodic():
        registry.every(periodic_job)
    return registry


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    registry: JobRegistry

    @cached_property
    def inbox(self) -> Inbox:
        """Accepted events waiting for the engine to commit them."""
        return Inbox(max_waiting=self.settings.ingest_max_waiting)

    @cached_property
    def intake(self) -> Intake:
        """This process's ingestion state: key cache, per-key limits, the inbox."""
        return Intake(
            self.sessionmaker,
            self.inbox,
            rate_per_minute=self.settings.ingest_rate_limit_per_minute,
        )

    def close(self) -> None:
        self.engine.dispose()

    def runner(
        self, name: str | None = None, *, metrics: JobMetricsSink | None = None
    ) -> JobRunner:
        """A job runner on this database (a work of the engine, or run directly by tests)."""
        return JobRunner(
            self.sessionmaker,
            self.registry,
            name=name,
            io_threads=self.settings.worker_concurrency * 2,
            lease_seconds=self.settings.job_lease_seconds,
            poll_seconds=self.settings.worker_poll_seconds,
            metrics=metrics,
        )

    def background(
        self,
        *,
        jobs: bool = True,
        events: bool = True,
        metrics: JobMetricsSink | None = None,
        threads: int | None = None,
    ) -> Background:
        """The engine of a process: storing and applying events (`events`: a process that
        serves HTTP), and running jobs (`jobs`). One thread on SQLite, the only background
        writer; on PostgreSQL `threads` (default `worker_concurrency`)."""
        writer = EventWriter(self.sessionmaker, self.inbox) if events else None
        runner = self.runner(metrics=metrics) if jobs else None
        works: list[Work] = [w for w in (writer, runner) if w is not None]
        if self.engine.dialect.name == "sqlite":
            threads = 1
        else:
            threads = threads or self.settings.worker_concurrency
        loop = Background(works, threads=threads, idle_seconds=self.settings.worker_poll_seconds)
        if writer is not None:
            self.inbox.on_work = loop.wake
        if runner is not None:
            runner.on_ready = loop.wake
        return loop


def build(settings: Settings) -> Container:
    engine = make_engine(settings)
    return Container(settings, engine, session_factory(engine, settings), build_registry(settings))
