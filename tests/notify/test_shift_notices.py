"""Shift notices end to end: a real SMTP server (and a loopback webhook receiver) gets the
"you are on call" message once per shift, and both people hear about an override; opting out
stops them; a rolled-back change sends nothing; times read right in each person's zone."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.notify.conftest import Receiver, SmtpServer, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.db import utcnow
from tocsin.jobs.models import Job
from tocsin.jobs.queue import enqueue
from tocsin.notify import methods, shifts
from tocsin.notify.channels import build_channels, verify_signature
from tocsin.notify.models import ShiftNotice
from tocsin.notify.pages import webhook_secret
from tocsin.notify.shift_delivery import send_notice
from tocsin.notify.shift_text import span, starting_text, zone_of
from tocsin.schedules import service as schedules
from tocsin.schedules.models import Schedule


def person(db: Session, settings: Settings, name: str, tz: str = "Europe/London") -> User:
    user = catalog.create_user(
        db, name=name, email=f"{name.lower()}@example.com", role="responder", timezone=tz
    )
    methods.create_contact_method(
        db, user, by=user, settings=settings, kind="email", target=user.email
    )
    return user


def daily(db: Session, name: str, members: list[User], start: datetime, tz: str) -> Schedule:
    """A daily rotation of `members` whose first shift starts at `start` (local wall clock)."""
    local = start.astimezone(zone_of(tz))
    schedule = schedules.create_schedule(db, name=name, timezone=tz)
    schedules.add_layer(
        db,
        schedule,
        {
            "name": "Daily",
            "shift_length": 1,
            "shift_unit": "days",
            "handoff_time": f"{local:%H:%M}",
            "start_date": local.date(),
            "member_ids": [m.id for m in members],
        },
    )
    return schedule


def soon(minutes: int = 10) -> datetime:
    now = utcnow().replace(second=0, microsecond=0)
    return now + timedelta(minutes=minutes)


def work(db: Session, container: Container) -> None:
    db.commit()
    run_jobs(container)
    db.rollback()


def to(smtp: SmtpServer) -> list[str]:
    return [r for rcpts in smtp.mailbox.recipients for r in rcpts]


def notices(db: Session) -> list[ShiftNotice]:
    return list(db.scalars(select(ShiftNotice).order_by(ShiftNotice.id)))


def test_a_shift_starting_soon_is_announced_once_however_often_the_scan_runs(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer
) -> None:
    ann, bob = person(db, settings, "Ann"), person(db, settings, "Bob")
    shifts.update_preference(db, bob, {"shift_notifications": False}, by=bob)
    start = soon(10)
    daily(db, "Primary", [ann, bob], start, "Europe/London")
    work(db, container)  # a brand new layer: Ann also hears "you are now on call"
    smtp.mailbox.messages.clear()
    smtp.mailbox.recipients.clear()

    # The periodic job runs in two slots, and two workers scan at the same moment.
    enqueue(db, shifts.SCAN_JOB, {"slot": "a"})
    enqueue(db, shifts.SCAN_JOB, {"slot": "b"})
    db.commit()
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def scan_in_own_session() -> None:
        with container.sessionmaker() as session:
            barrier.wait()
            counts.append(shifts.scan(session))
            session.commit()

    threads = [threading.Thread(target=scan_in_own_session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    work(db, container)
    work(db, container)

    assert sorted(counts) == [0, 1]
    assert len(smtp.messages) == 1 and to(smtp) == ["ann@example.com"]
    mail = smtp.messages[0]
    zone = zone_of("Europe/London")
    subject, sentence = starting_text("Primary", start, start + timedelta(days=1), zone, utcnow())
    assert mail["Subject"] == f"[Tocsin] {subject}"
    body = mail.get_content()
    assert sentence in body
    assert "You are on call for schedule “Primary” from" in body
    assert "(Europe/London)" in body
    assert "Acknowledge" not in body  # nothing to acknowledge in a shift notice
    assert "/users/" in body and "/notifications" in body
    (starting,) = [n for n in notices(db) if n.kind == "starting"]
    assert starting.state == "sent" and starting.detail == "sent to ann@example.com"
    sends = select(func.count()).select_from(Job).where(Job.kind == shifts.SEND_JOB)
    assert db.scalar(sends) == 2  # the change notice and one starting notice


def test_an_override_that_takes_a_shift_tells_both_people(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, admin: User
) -> None:
    ann, bob = person(db, settings, "Ann"), person(db, settings, "Bob", tz="America/New_York")
    schedule = daily(db, "Primary", [ann], utcnow() - timedelta(days=3), "Europe/London")
    work(db, container)
    smtp.mailbox.messages.clear()
    smtp.mailbox.recipients.clear()

    begin = (utcnow() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    end = begin + timedelta(hours=8)
    schedules.add_override(db, schedule, user_id=bob.id, start=begin, end=end, by=admin)
    work(db, container)

    assert sorted(to(smtp)) == ["ann@example.com", "bob@example.com"]
    mails = {m["To"].addresses[0].addr_spec: m for m in smtp.messages}
    assert mails["ann@example.com"]["Subject"] == "[Tocsin] Your on-call shifts in Primary changed"
    ann_body = mails["ann@example.com"].get_content()
    london, new_york = zone_of("Europe/London"), zone_of("America/New_York")
    assert f"- Bob takes your shift on {span(begin, end, london)}" in ann_body
    assert "The schedule “Primary” changed (override by Ada Admin)" in ann_body
    assert "times in Europe/London" in ann_body
    bob_body = mails["bob@example.com"].get_content()
    assert f"- You are now on call {span(begin, end, new_york)}, taking over from Ann" in bob_body
    assert "times in America/New_York" in bob_body

    # Removing the override gives Ann her shift back, and tells Bob he no longer has it.
    smtp.mailbox.messages.clear()
    smtp.mailbox.recipients.clear()
    (override,) = schedules.overrides(db, schedule)
    schedules.remove_override(db, override, by=admin)
    work(db, container)
    bodies = {m["To"].addresses[0].addr_spec: m.get_content() for m in smtp.messages}
    assert (
        f"You are now on call {span(begin, end, london)}, taking over from Bob"
        in bodies["ann@example.com"]
    )
    assert f"Ann takes your shift on {span(begin, end, new_york)}" in bodies["bob@example.com"]


def test_opting_out_stops_both_kinds_of_notice(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    client: TestClient,
    admin: User,
) -> None:
    ann, bob = person(db, settings, "Ann"), person(db, settings, "Bob")
    db.commit()
    headers = api_as(client, db, ann)
    answer = client.patch(
        f"/api/v1/users/{ann.id}/shift-notifications",
        json={"shift_notifications": False},
        headers=headers,
    )
    assert answer.status_code == 200
    assert answer.json() == {"shift_notifications": False, "lead_minutes": 15}
    db.rollback()

    start = soon(10)
    schedule = daily(db, "Primary", [ann], start, "Europe/London")
    db.commit()
    shifts.scan(db)
    begin = start + timedelta(days=1, hours=1)
    schedules.add_override(db, schedule, user_id=bob.id, start=begin,
                           end=begin + timedelta(hours=2), by=admin)  # fmt: skip
    work(db, container)

    assert to(smtp) == ["bob@example.com"]  # Bob's "you are now on call"; nothing for Ann
    assert all(n.user_id == bob.id for n in notices(db))

    # Turned back on, her next shift is announced again.
    answer = client.patch(
        f"/api/v1/users/{ann.id}/shift-notifications",
        json={"shift_notifications": True, "lead_minutes": 0},
        headers=headers,
    )
    assert answer.json() == {"shift_notifications": True, "lead_minutes": 0}
    db.rollback()
    assert shifts.scan(db, now=start) == 1


def test_a_notice_planned_for_someone_who_no_longer_has_the_shift_is_not_sent(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer
) -> None:
    ann, bob = person(db, settings, "Ann"), person(db, settings, "Bob")
    shifts.update_preference(db, bob, {"shift_notifications": False}, by=bob)
    start = soon(30)
    schedule = daily(db, "Primary", [ann], start, "Europe/London")
    shifts.update_preference(db, ann, {"lead_minutes": 60}, by=ann)
    db.commit()
    assert shifts.scan(db) == 1
    (planned,) = [n for n in notices(db) if n.kind == "starting"]
    # Before the job runs, Bob takes Ann's first hour: her shift no longer starts then.
    shifts.update_preference(db, ann, {"shift_notifications": True}, by=ann)
    schedules.add_override(db, schedule, user_id=bob.id, start=start,
                           end=start + timedelta(hours=1))  # fmt: skip
    work(db, container)

    db.refresh(planned)
    assert planned.state == "skipped"
    assert planned.detail == "not sent: no longer on call then (the schedule changed)"
    subjects = [m["Subject"] for m in smtp.messages]
    assert all("On call for" not in s for s in subjects)


def test_a_rolled_back_override_sends_nothing(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, admin: User
) -> None:
    ann, bob = person(db, settings, "Ann"), person(db, settings, "Bob")
    schedule = daily(db, "Primary", [ann], utcnow() - timedelta(days=1), "UTC")
    work(db, container)
    before = len(smtp.messages)
    count = db.scalar(select(func.count()).select_from(ShiftNotice))

    begin = utcnow() + timedelta(days=1)
    schedules.add_override(
        db, schedule, user_id=bob.id, start=begin, end=begin + timedelta(hours=4), by=admin
    )
    assert db.scalar(select(func.count()).select_from(ShiftNotice)) == count + 2
    db.rollback()
    run_jobs(container)

    assert db.scalar(select(func.count()).select_from(ShiftNotice)) == count
    assert len(smtp.messages) == before


def test_wording_is_in_the_persons_zone_across_a_daylight_saving_change(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer
) -> None:
    """London moves to BST on Sunday 29 March 2026: a daily shift handed over at 09:00 runs
    from 09:00 GMT to 09:00 BST (23 hours) and must read "09:00 to 09:00 tomorrow"."""
    ann = person(db, settings, "Ann")
    ny = person(db, settings, "Nia", tz="America/New_York")
    start = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # 09:00 GMT
    daily(db, "Primary", [ann, ny], start, "Europe/London")
    db.commit()
    now = start - timedelta(minutes=15)
    assert shifts.scan(db, now=now) == 1
    (notice,) = [n for n in notices(db) if n.kind == "starting"]
    send_notice(db, notice.id, channels=build_channels(settings), settings=settings, now=now)
    db.commit()
    assert notice.shift_end == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert smtp.messages[-1]["Subject"] == (
        "[Tocsin] On call for Primary from 09:00 to 09:00 tomorrow"
    )
    assert "from 09:00 to 09:00 tomorrow (Europe/London)." in smtp.messages[-1].get_content()

    # For someone in New York (already on EDT) Ann's shift is 05:00 to 04:00 the next day.
    nyz = zone_of("America/New_York")
    assert starting_text("Primary", start, notice.shift_end, nyz, now)[0] == (
        "On call for Primary from 05:00 to 04:00 tomorrow"
    )
    # Nia's shift follows, all in BST: 04:00 to 04:00 in New York.
    nia_start = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    nia_now = nia_start - timedelta(minutes=15)
    assert shifts.scan(db, now=nia_now) == 1
    nia_notice = [n for n in notices(db) if n.user_id == ny.id][-1]
    send_notice(
        db, nia_notice.id, channels=build_channels(settings), settings=settings, now=nia_now
    )
    db.commit()
    assert "from 04:00 to 04:00 tomorrow (America/New_York)." in smtp.messages[-1].get_content()
    assert starting_text("P", nia_start, nia_start + timedelta(hours=48), nyz, nia_now)[0] == (
        "On call for P from 04:00 to Tue 31 Mar 04:00"
    )


def test_a_webhook_gets_a_signed_shift_notice(
    db: Session, container: Container, settings: Settings, receiver: Receiver
) -> None:
    ann = catalog.create_user(db, name="Ann", email="ann@example.com", timezone="UTC")
    hook, _ = methods.create_contact_method(
        db, ann, by=ann, settings=settings, kind="webhook", target=f"{receiver.url}/hook"
    )
    start = soon(5)
    daily(db, "Primary", [ann], start, "UTC")
    db.commit()
    shifts.scan(db)
    work(db, container)

    kinds = [r.headers["x-tocsin-event"] for r in receiver.requests]
    assert kinds == ["shift", "shift"]  # "you are now on call", then "your shift starts"
    last = receiver.requests[-1]
    assert verify_signature(
        webhook_secret(settings.secret_key, hook), last.headers["x-tocsin-signature"], last.body
    )
    body = last.json()
    assert body["type"] == "shift"
    assert body["shift"]["event"] == "starting"
    assert body["shift"]["schedule"]["name"] == "Primary"
    assert body["shift"]["start"] == start.isoformat()
    assert "actions" not in body and "incident" not in body
    first = receiver.requests[0].json()
    assert first["shift"]["event"] == "changed"
    assert first["shift"]["changes"][0]["change"] == "added"


def test_a_failing_method_is_retried_without_repeating_the_ones_that_worked(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, receiver: Receiver
) -> None:
    ann = person(db, settings, "Ann")
    methods.create_contact_method(
        db, ann, by=ann, settings=settings, kind="webhook", target=f"{receiver.url}/hook"
    )
    receiver.status = 500
    daily(db, "Primary", [ann], soon(5), "UTC")
    work(db, container)  # the change notice: email works, the webhook fails every attempt

    (notice,) = notices(db)
    assert len(smtp.messages) == 1  # the email went once, not once per attempt
    assert len(receiver.requests) == settings.notify_attempts
    assert notice.state == "sent" and notice.attempts == settings.notify_attempts
    assert "sent to ann@example.com" in notice.detail
    assert "answered HTTP 500" in notice.detail


@pytest.mark.parametrize(
    ("body", "field"),
    [({"lead_minutes": 5000}, "lead_minutes"), ({"lead_minutes": -1}, "lead_minutes")],
)
def test_bad_preferences_are_refused_naming_the_field(
    db: Session, client: TestClient, responder: User, body: dict[str, int], field: str
) -> None:
    answer = client.patch(
        f"/api/v1/users/{responder.id}/shift-notifications",
        json=body,
        headers=api_as(client, db, responder),
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field
    assert shifts.preference(db, responder).lead_minutes == 15


def test_someone_else_cannot_change_my_preference(
    db: Session, client: TestClient, responder: User, viewer: User
) -> None:
    answer = client.patch(
        f"/api/v1/users/{responder.id}/shift-notifications",
        json={"shift_notifications": False},
        headers=api_as(client, db, viewer),
    )
    assert answer.status_code == 403
    assert shifts.preference(db, responder).enabled is True


def test_the_notifications_page_sets_the_preference_and_lists_notices(
    db: Session, container: Container, settings: Settings, client: TestClient, admin: User
) -> None:
    daily(db, "Night <watch>", [admin], utcnow() - timedelta(hours=1), "UTC")
    methods.create_contact_method(
        db, admin, by=admin, settings=settings, kind="email", target=admin.email
    )
    work(db, container)
    csrf = browser_login(client, admin.email)
    page = client.get(f"/users/{admin.id}/notifications")
    assert "Shift notifications" in page.text
    assert "Your on-call shifts in Night &lt;watch&gt; changed" in page.text
    assert "Night <watch>" not in page.text

    answer = client.post(
        f"/users/{admin.id}/shift-notifications",
        data={"csrf_token": csrf, "lead_minutes": "30"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    db.rollback()
    pref = shifts.preference(db, admin)
    assert (pref.enabled, pref.lead_minutes) == (False, 30)

    answer = client.post(
        f"/users/{admin.id}/shift-notifications",
        data={"csrf_token": csrf, "shift_notifications": "on", "lead_minutes": "2000"},
    )
    assert "lead_minutes" in answer.text
    db.rollback()
    assert shifts.preference(db, admin).enabled is False  # the refused form changed nothing


def test_the_configuration_file_sets_the_preference_once_and_exports_it(
    db: Session, tmp_path: Path, responder: User
) -> None:
    doc = {
        "version": 1,
        "notifications": [
            {
                "user": "rita@example.com",
                "contact_methods": [
                    {"label": "Work", "kind": "email", "target": "rita@example.com"}
                ],
                "shift_notifications": {"enabled": True, "lead_minutes": 45},
            }
        ],
    }
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump(doc))
    changes = apply_file(db, path)
    db.commit()
    assert "set shift notifications for rita@example.com: on, 45 min before a shift" in changes
    assert apply_file(db, path) == []
    assert shifts.preference(db, responder).lead_minutes == 45
    exported = yaml.safe_load(export_yaml(db))
    (entry,) = exported["notifications"]
    assert entry["shift_notifications"] == {"enabled": True, "lead_minutes": 45}

    doc["notifications"][0]["shift_notifications"] = {"enabled": True, "lead_minutes": 9999}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"notifications\[0\]\.shift_notifications\.lead_minutes"):
        apply_file(db, path)


def test_a_layer_edit_and_deleting_the_schedule_tell_the_people_it_moves(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, admin: User
) -> None:
    ann, bob, cat = (person(db, settings, n, tz="UTC") for n in ("Ann", "Bob", "Cat"))
    start = (utcnow() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    schedule = daily(db, "Primary", [ann, bob], start, "UTC")
    work(db, container)
    smtp.mailbox.messages.clear()
    smtp.mailbox.recipients.clear()

    # Cat replaces Bob in the rotation: Bob loses his days to Cat; Ann's do not move.
    (layer,) = schedule.layers
    schedules.update_layer(db, layer, {"member_ids": [ann.id, cat.id]})
    work(db, container)
    assert sorted(to(smtp)) == ["bob@example.com", "cat@example.com"]
    bodies = {m["To"].addresses[0].addr_spec: m.get_content() for m in smtp.messages}
    day2 = start + timedelta(days=1)
    assert "The schedule “Primary” changed (layer “Daily” changed)" in bodies["bob@example.com"]
    assert (
        f"Cat takes your shift on {span(day2, day2 + timedelta(days=1), zone_of('UTC'))}"
        in (bodies["bob@example.com"])
    )
    assert "taking over from Bob" in bodies["cat@example.com"]

    smtp.mailbox.messages.clear()
    smtp.mailbox.recipients.clear()
    schedules.delete_schedule(db, schedule)
    work(db, container)
    assert sorted(to(smtp)) == ["ann@example.com", "cat@example.com"]
    assert all("(nobody is on call then)" in m.get_content() for m in smtp.messages)
    assert all("Schedule: " not in m.get_content() for m in smtp.messages)
    latest = notices(db)[-1]
    assert latest.schedule_id is None and latest.schedule_name == "Primary"
