"""Typed settings, read from TOCSIN_* environment variables only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me"
_DAY = "(?:mon|tue|wed|thu|fri|sat|sun)"
WORKING_DAYS_PATTERN = rf"^{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*$"
_CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
WORKING_HOURS_PATTERN = rf"^{_CLOCK}-{_CLOCK}$"


class Settings(BaseSettings):
    """Everything Tocsin can be configured with; built explicitly, never read at import."""

    model_config = SettingsConfigDict(env_prefix="TOCSIN_", env_file=None, extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./data/tocsin.db"
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    # FastAPI's native OpenTelemetry spans, metrics and logs, for the providers the process
    # configures (e.g. FASTAPI_OTEL_AUTO_CONFIGURE=true with OTEL_* variables). Off: Tocsin's
    # own Prometheus metrics and structured logs cover it, at no cost per request.
    opentelemetry: bool = False
    # Run jobs in the web process's engine (what `make run` does); false: `tocsin worker`.
    embedded_worker: bool = True
    # The engine wakes at once for jobs committed in its process (and on PostgreSQL, through
    # LISTEN/NOTIFY, in any process) and at the earliest run_at; this poll is the fallback
    # that bounds the delay otherwise (jobs queued by another process on SQLite).
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # PostgreSQL: engine threads per process (`tocsin worker --concurrency` overrides it);
    # twice as many threads perform sends (emails, webhooks). SQLite's engine has one thread.
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    # While a job's send is under way its lease is renewed; a process that dies leaves it to
    # be run again this long after its last renewal (and a send past its kind's timeout is no
    # longer renewed).
    job_lease_seconds: int = Field(default=60, gt=0)
    # Finished jobs (done, failed, cancelled) are deleted after this many days.
    job_retention_days: int = Field(default=7, gt=0)
    # Audit records older than this are purged (docs/audit.md); 0 keeps them forever.
    audit_retention_days: int = Field(default=400, ge=0, le=36500)
    session_max_age_hours: int = Field(default=12 * 24, gt=0)
    cookie_secure: bool = False
    # Who may sign in with a password: everyone, or only admins (the others through single
    # sign-on, docs/sso.md); admins keep their passwords as the way in when the IdP is down.
    password_login: Literal["everyone", "admins"] = "everyone"
    # Login throttling (see docs/operations.md): after this many failed logins from one client
    # network (an IPv4 address or an IPv6 /64), or for one account from anywhere, further
    # attempts are refused (429) for `login_lockout_seconds`, doubling with each further
    # failure up to `login_lockout_max_seconds`. Failures are forgotten once a key has gone
    # `login_failure_window_seconds` without one (counted from the end of its lockout).
    # The network's limit is checked first, and should be the lower one.
    login_max_failures_per_address: int = Field(default=10, ge=1)
    login_max_failures_per_account: int = Field(default=20, ge=1)
    login_lockout_seconds: int = Field(default=60, ge=1, le=3600)
    login_lockout_max_seconds: int = Field(default=900, ge=1, le=3600)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # Local accounts (docs/accounts.md): how long a password reset link works, and how many
    # reset requests one network, or one address, may make before a lockout of an hour.
    password_reset_minutes: int = Field(default=30, ge=5, le=24 * 60)
    password_reset_max_per_address: int = Field(default=10, ge=1)
    password_reset_max_per_account: int = Field(default=3, ge=1)
    # Admins must have a second factor: one without it enrols while logging in.
    require_two_factor_for_admins: bool = False
    # Demo admin login chosen by `make run` / `tocsin demo`.
    admin_email: str = "admin@example.com"
    admin_password: str = "tocsin-admin"
    sse_poll_seconds: float = Field(default=1.0, gt=0)
    # Alert ingestion: per-integration limit in events per minute (0 = no limit), how many
    # accepted events may wait in memory for the group commit before senders get 429, and
    # how long raw bodies and events are kept.
    ingest_rate_limit_per_minute: int = Field(default=0, ge=0)
    ingest_max_waiting: int = Field(default=50_000, gt=0)
    event_raw_retention_days: int = Field(default=30, gt=0)
    event_retention_days: int = Field(default=90, gt=0)
    # Notifications (see docs/notifications.md). Email pages go through this SMTP relay.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "tocsin@localhost"
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    # Seconds a single delivery (SMTP, webhook, Apprise) may take before it counts as failed.
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    # Every delivery (pages, shift notices, stakeholder updates, subscriber mails and
    # webhooks) is tried this many times in all, waiting base * 4**(n-1) seconds between
    # tries; a page then tries the person's next contact method.
    notify_attempts: int = Field(default=3, ge=1, le=10)
    notify_retry_base_seconds: float = Field(default=10.0, ge=0)
    # How long acknowledge/resolve links in a page keep working.
    action_link_hours: int = Field(default=24, gt=0)
    # Outbound HTTP to user-given URLs (webhooks, self-hosted chat) may not reach private,
    # loopback or link-local addresses unless allowed here (all of them, or these CIDRs,
    # comma-separated, e.g. "10.1.0.0/16,192.168.5.7/32").
    outbound_allow_private: bool = False
    outbound_allow_cidrs: str = ""
    # Credentials Tocsin keeps for other services (issue trackers) are encrypted at rest with
    # a key derived from this (a Fernet key, or any long random string); empty: from the
    # secret key. Changing either makes stored credentials unreadable: they must be entered
    # again.
    encryption_key: str = ""
    # Issue trackers (docs/follow-ups.md): how long one request may take, how many times a
    # rate-limited (429) or failing (5xx, timeout) request is retried, the first retry's delay
    # (doubling, and never sooner than the tracker's Retry-After), and how often linked issues
    # are polled for their state.
    tracker_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    tracker_attempts: int = Field(default=5, ge=1, le=20)
    tracker_retry_base_seconds: float = Field(default=30.0, ge=0)
    tracker_poll_minutes: int = Field(default=10, ge=1, le=1440)
    # Chat (docs/chat.md): each request to Slack, Mattermost or a Matrix homeserver, how often
    # a channel's upkeep is tried (doubling from the base; longer when the service's
    # Retry-After asks), and how often Mattermost channels are read for reactions and edits.
    chat_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    chat_attempts: int = Field(default=8, ge=1, le=30)
    chat_retry_base_seconds: float = Field(default=5.0, ge=0)
    chat_poll_seconds: int = Field(default=30, ge=5, le=3600)
    # Schedules: importing a calendar from a URL on a private or local address (an intranet
    # server) is refused unless this allows it; gaps are looked for this many weeks ahead.
    ical_import_allow_private_urls: bool = False
    schedule_gap_weeks: int = Field(default=4, ge=1, le=52)
    # Status pages (see docs/statuspages.md). Each web process reloads changed renders this
    # often. After every render of a public page, the export hook writes the page's static
    # copy to <dir>/<slug>/ and/or runs the command (with TOCSIN_STATUSPAGE_SLUG and
    # TOCSIN_STATUSPAGE_DIR set), e.g. to upload it to a static host or CDN.
    statuspage_poll_seconds: float = Field(default=1.0, gt=0)
    statuspage_export_dir: str = ""
    statuspage_export_command: str = ""
    statuspage_export_timeout_seconds: float = Field(default=120.0, gt=0)
    # Status page subscribers (see docs/subscribers.md). Subscribe requests allowed per hour
    # from one client address and for one email address (429 past them); confirmation
    # mails go to an address at most once per `confirm_resend_minutes`, and their links
    # work for `confirm_hours`.
    subscribe_limit_per_ip: int = Field(default=20, ge=1)
    subscribe_limit_per_address: int = Field(default=5, ge=1)
    subscriber_confirm_resend_minutes: int = Field(default=10, ge=0)
    subscriber_confirm_hours: int = Field(default=48, gt=0)
    # A subscriber's webhook must answer 2xx within the timeout. A webhook is quarantined
    # after this many failed attempts in a row, once its first failure is this many hours old.
    subscriber_webhook_timeout_seconds: float = Field(default=30.0, gt=0, le=60)
    subscriber_quarantine_failures: int = Field(default=10, ge=1)
    subscriber_quarantine_hours: float = Field(default=24.0, ge=0)
    # The organisation's working week and time zone: postmortem deadlines in business days
    # count these days, at the same local time (see docs/postmortems.md). Days as "mon-fri",
    # "sun-thu" or "mon,tue,thu"; the zone as an IANA name.
    working_days: str = Field(default="mon-fri", pattern=WORKING_DAYS_PATTERN)
    org_timezone: str = "UTC"
    # Every Monday at 08:00 (org_timezone) each team's members get last week's Insights report
    # by email (docs/insights.md); false: no report.
    insights_weekly_report: bool = True
    # The working day, "HH:MM-HH:MM" (start included, end excluded), read in each person's
    # own time zone on the working days above: a page outside it is "out of hours" in the
    # on-call load (see docs/insights.md).
    working_hours: str = Field(default="09:00-17:00", pattern=WORKING_HOURS_PATTERN)
    # Recurrence memory: alert labels that do not tie an incident to earlier ones, however
    # many share them, because nearly every alert has one (comma-separated names; see
    # docs/followups.md). Every other label (alertname, instance, …) does.
    recurrence_ignored_labels: str = (
        "severity,priority,urgency,env,environment,stage,tier,cluster,region,zone,"
        "availability_zone,datacenter,dc,namespace,team,owner,tenant,job,prometheus,"
        "prometheus_replica,replica,receiver,monitor"
    )

    @field_validator("org_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TOCSIN_ORG_TIMEZONE: unknown time zone {value!r}") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours_in_order(cls, value: str) -> str:
        start, end = value.split("-")
        if start >= end:
            raise ValueError(
                f"TOCSIN_WORKING_HOURS: the day must end after it starts (got {value!r})"
            )
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("TOCSIN_SECRET_KEY must be set to a random value in production")
        return self

    @model_validator(mode="after")
    def _lockout_bounds(self) -> Settings:
        if self.login_lockout_max_seconds < self.login_lockout_seconds:
            raise ValueError(
                "TOCSIN_LOGIN_LOCKOUT_MAX_SECONDS must be at least TOCSIN_LOGIN_LOCKOUT_SECONDS"
            )
        return self

    def public_url(self, host: str | None = None, port: int | None = None) -> str:
        """Where people reach this server: TOCSIN_BASE_URL when it is set, else the address
        `tocsin serve` listens on (`host`/`port`, or TOCSIN_HOST/TOCSIN_PORT), a wildcard
        host shown as 127.0.0.1."""
        if "base_url" in self.model_fields_set:
            return self.base_url
        shown = host or self.host
        shown = "127.0.0.1" if shown in ("0.0.0.0", "::") else shown
        return f"http://{shown}:{port or self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.env == "production"
        return self.log_format == "json"

    def sqlite_path(self) -> Path | None:
        """The file an SQLite URL points at, or None for memory / other databases."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[-1]
        if not path or path == ":memory:":
            return None
        return Path(path)
