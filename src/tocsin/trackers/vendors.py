"""The four trackers side by side: how to build a client, name an issue, check a webhook."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from tocsin.outbound import OutboundGuard
from tocsin.trackers import github, gitlab, jira, linear
from tocsin.trackers.models import TrackerKind
from tocsin.trackers.ports import Http, RemoteIssue, TrackerClient

HttpFor = Callable[[str, dict[str, str]], Http]


@dataclass(frozen=True)
class Access:
    """What a client needs, decrypted, for one connection."""

    base_url: str
    project: str
    account: str
    issue_type: str
    credential: str


@dataclass(frozen=True)
class Vendor:
    label: str
    default_url: str
    project_label: str  # what `project` is for this tracker
    project_re: re.Pattern[str]
    build: Callable[[HttpFor, Access], TrackerClient]
    parse_ref: Callable[..., str]  # (text, *, base_url, project) -> key; ValueError
    verify: Callable[[str, Mapping[str, str], bytes], bool]
    webhook_issues: Callable[..., list[RemoteIssue]]  # (payload, *, base_url)
    needs_account: bool = False


VENDORS: dict[str, Vendor] = {
    TrackerKind.jira.value: Vendor(
        label="Jira",
        default_url="",
        project_label="project key (OPS)",
        project_re=re.compile(r"^[A-Z][A-Z0-9_]{0,49}$"),
        build=lambda h, a: jira.JiraClient(
            h,
            base_url=a.base_url,
            project=a.project,
            account=a.account,
            token=a.credential,
            issue_type=a.issue_type,
        ),  # fmt: skip
        parse_ref=jira.parse_ref,
        verify=jira.verify,
        webhook_issues=jira.webhook_issues,
        needs_account=True,
    ),
    TrackerKind.github.value: Vendor(
        label="GitHub",
        default_url="https://api.github.com",
        project_label="repository (owner/repo)",
        project_re=github.REPO_RE,
        build=lambda h, a: github.GitHubClient(h, repo=a.project, token=a.credential),
        parse_ref=github.parse_ref,
        verify=github.verify,
        webhook_issues=github.webhook_issues,
    ),
    TrackerKind.gitlab.value: Vendor(
        label="GitLab",
        default_url="https://gitlab.com",
        project_label="project id or path (group/project)",
        project_re=re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$"),
        build=lambda h, a: gitlab.GitLabClient(h, project=a.project, token=a.credential),
        parse_ref=gitlab.parse_ref,
        verify=gitlab.verify,
        webhook_issues=gitlab.webhook_issues,
    ),
    TrackerKind.linear.value: Vendor(
        label="Linear",
        default_url="https://api.linear.app",
        project_label="team id",
        project_re=re.compile(r"^[A-Za-z0-9-]{1,64}$"),
        build=lambda h, a: linear.LinearClient(h, team=a.project, token=a.credential),
        parse_ref=linear.parse_ref,
        verify=linear.verify,
        webhook_issues=linear.webhook_issues,
    ),
}


def client_for(kind: str, access: Access, *, guard: OutboundGuard, timeout: float) -> TrackerClient:
    """The client of `kind` for one connection, its requests guarded and bounded."""
    http_for = partial(_http, base_url=access.base_url, guard=guard, timeout=timeout)
    return VENDORS[kind].build(http_for, access)


def _http(
    vendor: str, headers: dict[str, str], *, base_url: str, guard: OutboundGuard, timeout: float
) -> Http:
    return Http(vendor=vendor, base_url=base_url, headers=headers, guard=guard, timeout=timeout)


def label(kind: str) -> str:
    vendor = VENDORS.get(kind)
    return vendor.label if vendor else kind
