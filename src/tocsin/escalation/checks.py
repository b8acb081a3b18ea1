"""Paging's part of `tocsin check` (`tocsin.findings`): what would stop a page from reaching a
person, found before an incident does.

Problems: schedules with nobody on call in the coming weeks, services that page nobody,
policies (or levels) whose targets can reach nobody, and people who can be paged but have no
working contact method. Each finding names what to fix.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, User
from tocsin.escalation.models import EscalationLevel, EscalationPolicy, ServicePaging, TargetKind
from tocsin.escalation.walk import pageable_members
from tocsin.findings import Finding
from tocsin.notify.models import ContactMethod
from tocsin.schedules.checks import schedule_gaps
from tocsin.schedules.models import Layer, Override, Schedule
from tocsin.schedules.oncall import gaps_many


def _covered_schedules(session: Session, ids: set[int], now: datetime, weeks: int) -> set[int]:
    """The schedules among `ids` with anybody on call at some time in the coming weeks."""
    end = now + timedelta(weeks=weeks)
    gaps = gaps_many(session, sorted(ids), now, end)
    covered = set()
    for schedule_id in ids:
        missing = sum((b - a).total_seconds() for a, b in gaps.get(schedule_id, []))
        if missing < (end - now).total_seconds():
            covered.add(schedule_id)
    return covered


def _level_reaches(level: EscalationLevel, covered: set[int]) -> bool:
    for target in level.targets:
        if target.kind == TargetKind.user and target.user is not None and target.user.active:
            return True
        team = target.team
        if target.kind == TargetKind.team and team is not None and bool(pageable_members(team)):
            return True
        if target.kind == TargetKind.schedule and target.schedule_id in covered:
            return True
    return False


def _pageable_people(session: Session, policies: list[EscalationPolicy]) -> dict[int, str]:
    """Everyone a policy can page: named users, team members, schedule members; id → why."""
    people: dict[int, str] = {}
    schedule_ids: set[int] = set()
    for policy in policies:
        for level in policy.levels:
            for target in level.targets:
                if target.user is not None:
                    people.setdefault(target.user.id, f"named in policy \u201c{policy.name}\u201d")
                elif target.team is not None:
                    for member in pageable_members(target.team):
                        people.setdefault(
                            member.id, f"member of team \u201c{target.team.name}\u201d"
                        )
                elif target.schedule_id is not None:
                    schedule_ids.add(target.schedule_id)
    if schedule_ids:
        rows = session.execute(
            select(Schedule.name, Layer.member_ids)
            .join(Layer, Layer.schedule_id == Schedule.id)
            .where(Schedule.id.in_(schedule_ids))
        ).all()
        for name, member_ids in rows:
            for user_id in member_ids or []:
                people.setdefault(user_id, f"on the rota of schedule \u201c{name}\u201d")
    return people


def paging_findings(session: Session, now: datetime, weeks: int = 4) -> list[Finding]:
    """Schedule gaps, services that page nobody, policies and levels that reach nobody, and
    people who cannot be reached, in that order."""
    findings: list[Finding] = []
    for gap in schedule_gaps(session, now, weeks):
        findings.append(Finding("problem", "gaps", gap.schedule_name, gap.describe()))

    services = session.scalars(select(Service).order_by(Service.name)).all()
    paging = {p.service_id: p for p in session.scalars(select(ServicePaging))}
    for service in services:
        setting = paging.get(service.id)
        if setting is None or setting.policy_id is None:
            findings.append(
                Finding(
                    "problem",
                    "unpaged_service",
                    service.name,
                    f"service \u201c{service.name}\u201d has no escalation policy: "
                    "its incidents page nobody",
                )
            )

    policies = list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))
    schedule_ids = {
        t.schedule_id
        for p in policies
        for level in p.levels
        for t in level.targets
        if t.schedule_id is not None
    }
    covered = _covered_schedules(session, schedule_ids, now, weeks) if schedule_ids else set()
    for policy in policies:
        reaching = [_level_reaches(level, covered) for level in policy.levels]
        if not any(reaching):
            findings.append(
                Finding(
                    "problem",
                    "unreachable_policy",
                    policy.name,
                    f"escalation policy \u201c{policy.name}\u201d can reach nobody: no level has "
                    "an active user, a team with active members, or a schedule with anybody "
                    f"on call in the next {weeks} weeks",
                )
            )
            continue
        for position, ok in enumerate(reaching):
            if not ok:
                findings.append(
                    Finding(
                        "warning",
                        "unreachable_level",
                        policy.name,
                        f"level {position + 1} of \u201c{policy.name}\u201d can reach nobody "
                        "and will always be skipped",
                    )
                )

    people = _pageable_people(session, policies)
    if people:
        users = session.scalars(select(User).where(User.id.in_(people), User.active)).all()
        methods: dict[int, list[ContactMethod]] = {}
        for method in session.scalars(
            select(ContactMethod).where(ContactMethod.user_id.in_(people))
        ):
            methods.setdefault(method.user_id, []).append(method)
        for user in sorted(users, key=lambda u: u.name):
            enabled = [m for m in methods.get(user.id, []) if m.enabled]
            working = [m for m in enabled if m.last_ok is not False]
            if working:
                continue
            if not enabled:
                problem = "has no enabled contact method"
            else:
                problem = (
                    "has contact methods that all failed last time ("
                    + "; ".join(f"{m.label}: {m.last_result}" for m in enabled)
                    + ")"
                )
            findings.append(
                Finding(
                    "problem",
                    "no_contact",
                    user.email,
                    f"{user.name} ({people[user.id]}) {problem}: a page cannot reach them",
                )
            )
    return findings


def deactivated_findings(session: Session, now: datetime) -> list[Finding]:
    """Schedules (a rota, or an override still to come) and escalation policies that still
    name a deactivated person: they are skipped when paging, so their turn pages nobody."""
    inactive = dict(session.execute(select(User.id, User.name).where(User.active.is_(False))).all())
    if not inactive:
        return []
    findings: list[Finding] = []
    named: dict[str, set[int]] = {}
    for schedule_name, member_ids in session.execute(
        select(Schedule.name, Layer.member_ids).join(Layer, Layer.schedule_id == Schedule.id)
    ):
        named.setdefault(schedule_name, set()).update(i for i in member_ids or [] if i in inactive)
    for schedule_name, user_id in session.execute(
        select(Schedule.name, Override.user_id)
        .join(Override, Override.schedule_id == Schedule.id)
        .where(Override.end > now, Override.user_id.in_(inactive))
    ):
        named.setdefault(schedule_name, set()).add(user_id)
    for schedule_name in sorted(named):
        people = sorted(inactive[i] for i in named[schedule_name])
        if people:
            findings.append(
                Finding(
                    "problem",
                    "deactivated_person",
                    schedule_name,
                    f"schedule \u201c{schedule_name}\u201d still names deactivated "
                    f"{_people(people)}: their shifts page nobody",
                )
            )
    policies = session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name))
    for policy in policies:
        people = sorted(
            {
                target.user.name
                for level in policy.levels
                for target in level.targets
                if target.user is not None and not target.user.active
            }
        )
        if people:
            findings.append(
                Finding(
                    "problem",
                    "deactivated_person",
                    policy.name,
                    f"escalation policy \u201c{policy.name}\u201d still names deactivated "
                    f"{_people(people)}: they are no longer paged",
                )
            )
    return findings


def _people(names: list[str]) -> str:
    return ", ".join(f"\u201c{name}\u201d" for name in names)
