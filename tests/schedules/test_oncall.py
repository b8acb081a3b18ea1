"""Who is on call: rotations across daylight-saving changes, restrictions, layers, overrides."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.schedules.conftest import utc
from tocsin.schedules import service
from tocsin.schedules.oncall import (
    final_shifts,
    gaps,
    on_call,
    on_call_many,
    on_call_until_many,
    upcoming_shifts,
)


def who(db: Session, schedule, at) -> str | None:  # type: ignore[no-untyped-def]
    shifts = on_call(db, schedule.id, at)
    return shifts[0].source.split('"')[1] + ":" + str(shifts[0].user_id) if shifts else None


def names(db, people, shifts):  # type: ignore[no-untyped-def]
    by_id = {u.id: n for n, u in people.items()}
    return [(by_id[s.user_id], s.start, s.end) for s in shifts]


def test_weekly_rotation_takes_turns_and_repeats(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob", "Ann", "Cat"],  # repeats are allowed
                "shift_unit": "weeks",
                "timezone": "UTC",
                "start_date": "2026-01-05",
                "handoff_time": "09:00",
            }
        ]
    )
    expected = ["Ann", "Bob", "Ann", "Cat", "Ann", "Bob"]
    for week, name in enumerate(expected):
        at = utc(2026, 1, 5, 9) + timedelta(weeks=week)
        (shift,) = on_call(db, schedule.id, at)
        assert shift.user_id == people[name].id
        assert (shift.start, shift.end) == (at, at + timedelta(weeks=1))
        assert shift.source == 'layer "Layer 1"'
        # One second before the handoff it is still the previous person.
        if week:
            (before,) = on_call(db, schedule.id, at - timedelta(seconds=1))
            assert before.user_id == people[expected[week - 1]].id
    assert on_call(db, schedule.id, utc(2026, 1, 5, 8, 59)) == []  # before the layer starts
    # A year later the arithmetic still lands on the right person (52 weeks = 13 cycles).
    (later,) = on_call(db, schedule.id, utc(2027, 1, 4, 9))
    assert later.user_id == people["Ann"].id


def test_daily_london_handoff_stays_at_nine_local_across_both_changes(
    db, people, make_schedule
) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "Europe/London",
                "start_date": "2026-03-01",
                "handoff_time": "09:00",
            }
        ]
    )
    spring = final_shifts(db, schedule.id, utc(2026, 3, 28, 0), utc(2026, 3, 31, 0))
    starts = [s.start for s in spring]
    # 09:00 GMT = 09:00 UTC before the change (29 March 01:00 UTC), 09:00 BST = 08:00 UTC after.
    assert starts[1:] == [utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]
    assert spring[1].end - spring[1].start == timedelta(hours=23)  # the short day
    autumn = final_shifts(db, schedule.id, utc(2026, 10, 24, 0), utc(2026, 10, 27, 0))
    assert [s.start for s in autumn][1:] == [
        utc(2026, 10, 24, 8),
        utc(2026, 10, 25, 9),
        utc(2026, 10, 26, 9),
    ]
    assert autumn[1].end - autumn[1].start == timedelta(hours=25)  # the long day
    # Turns continue across the change: days alternate Ann, Bob.
    users = [s.user_id for s in autumn]
    assert all(a != b for a, b in zip(users, users[1:], strict=False))


def test_weekly_new_york_rotation_across_the_change(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob", "Cat"],
                "shift_unit": "weeks",
                "timezone": "America/New_York",
                "start_date": "2026-03-02",  # a Monday
                "handoff_time": "10:00",
            }
        ]
    )
    # Week of 2 March (EST, UTC-5) holds the 8 March change to EDT (UTC-4).
    (first,) = on_call(db, schedule.id, utc(2026, 3, 5, 12))
    assert (first.start, first.end) == (utc(2026, 3, 2, 15), utc(2026, 3, 9, 14))
    assert first.end - first.start == timedelta(days=7, hours=-1)
    (second,) = on_call(db, schedule.id, utc(2026, 3, 9, 14))
    assert second.user_id == people["Bob"].id
    assert second.end == utc(2026, 3, 16, 14)


def test_twelve_hour_shifts_over_the_gap_and_the_repeat(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_length": 12,
                "shift_unit": "hours",
                "timezone": "Europe/London",
                "start_date": "2026-03-01",
                "handoff_time": "08:00",
            }
        ]
    )
    # The night of 28-29 March: 20:00 GMT to 08:00 BST is 11 hours.
    (night,) = on_call(db, schedule.id, utc(2026, 3, 29, 1, 30))
    assert (night.start, night.end) == (utc(2026, 3, 28, 20), utc(2026, 3, 29, 7))
    assert night.user_id == people["Bob"].id
    (day,) = on_call(db, schedule.id, utc(2026, 3, 29, 7))
    assert (day.start, day.end) == (utc(2026, 3, 29, 7), utc(2026, 3, 29, 19))
    # The night of 24-25 October: 20:00 BST to 08:00 GMT is 13 hours, across the repeat.
    (long_night,) = on_call(db, schedule.id, utc(2026, 10, 25, 1, 30))
    assert (long_night.start, long_night.end) == (utc(2026, 10, 24, 19), utc(2026, 10, 25, 8))


def test_handoffs_inside_the_gap_move_forward_and_in_the_repeat_take_the_first(
    db, people, make_schedule
) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "Europe/London",
                "start_date": "2026-03-01",
                "handoff_time": "01:30",
            }
        ]
    )
    shifts = final_shifts(db, schedule.id, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # 29 March 01:30 does not exist in London: the handoff is at 02:30 BST = 01:30 UTC.
    assert [s.start for s in shifts][1:] == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    shifts = final_shifts(db, schedule.id, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    # 25 October 01:30 happens twice: the first (BST, 00:30 UTC) is the handoff.
    assert [s.start for s in shifts][1:] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_half_hour_zones(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    kolkata = make_schedule(
        "India",
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "Asia/Kolkata",
                "start_date": "2026-01-01",
                "handoff_time": "09:00",
            }
        ],
    )
    (shift,) = on_call(db, kolkata.id, utc(2026, 6, 1, 12))
    assert shift.start == utc(2026, 6, 1, 3, 30)  # 09:00 IST is 03:30 UTC
    # Adelaide leaves daylight saving on 5 April 2026 (UTC+10:30 -> UTC+9:30).
    adelaide = make_schedule(
        "Adelaide",
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "Australia/Adelaide",
                "start_date": "2026-03-01",
                "handoff_time": "09:00",
            }
        ],
    )
    shifts = final_shifts(db, adelaide.id, utc(2026, 4, 3, 0), utc(2026, 4, 6, 0))
    assert [s.start for s in shifts][1:] == [
        utc(2026, 4, 3, 22, 30),  # 4 April 09:00 ACDT (UTC+10:30)
        utc(2026, 4, 4, 23, 30),  # 5 April 09:00 ACST (UTC+9:30)
        utc(2026, 4, 5, 23, 30),
    ]


def test_business_hours_restriction_edges(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann"],
                "shift_unit": "weeks",
                "timezone": "Europe/London",
                "start_date": "2026-06-01",
                "restrictions": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
                ],
            }
        ]
    )
    # Wednesday 3 June (BST): 09:00-17:00 local is 08:00-16:00 UTC.
    assert on_call(db, schedule.id, utc(2026, 6, 3, 7, 59)) == []
    (shift,) = on_call(db, schedule.id, utc(2026, 6, 3, 8))
    assert (shift.start, shift.end) == (utc(2026, 6, 3, 8), utc(2026, 6, 3, 16))
    assert on_call(db, schedule.id, utc(2026, 6, 3, 16)) == []
    assert on_call(db, schedule.id, utc(2026, 6, 6, 12)) == []  # Saturday
    week = gaps(db, schedule.id, utc(2026, 6, 5, 0), utc(2026, 6, 9, 0))
    # Friday night to Monday morning is one gap.
    assert (utc(2026, 6, 5, 16), utc(2026, 6, 8, 8)) in week


def test_nights_and_weekends_wrap_midnight_and_join_up(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Bob"],
                "shift_unit": "weeks",
                "timezone": "UTC",
                "start_date": "2026-06-01",
                "restrictions": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "17:00", "end": "09:00"},
                    {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"},
                    # A window starts on its day: Sunday night to Monday 09:00 is its own.
                    {"days": ["sun"], "start": "17:00", "end": "09:00"},
                ],
            }
        ]
    )
    (night,) = on_call(db, schedule.id, utc(2026, 6, 3, 2))  # Wednesday 02:00
    assert (night.start, night.end) == (utc(2026, 6, 2, 17), utc(2026, 6, 3, 9))
    # From Friday 17:00 to Monday 09:00 is one stretch (the rotation's week ends Monday 09:00).
    (weekend,) = on_call(db, schedule.id, utc(2026, 6, 6, 12))
    assert (weekend.start, weekend.end) == (utc(2026, 6, 5, 17), utc(2026, 6, 8, 9))
    assert on_call(db, schedule.id, utc(2026, 6, 3, 12)) == []
    holes = gaps(db, schedule.id, utc(2026, 6, 5), utc(2026, 6, 9))
    assert holes == [
        (utc(2026, 6, 5, 9), utc(2026, 6, 5, 17)),
        (utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
    ]


def test_higher_layer_wins_and_lower_fills_the_rest(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {"name": "Base", "members": ["Ann"], "timezone": "UTC", "start_date": "2026-06-01"},
            {
                "name": "Office",
                "members": ["Bob"],
                "timezone": "UTC",
                "start_date": "2026-06-01",
                "restrictions": [{"days": ["mon"], "start": "09:00", "end": "17:00"}],
            },
        ]
    )
    shifts = final_shifts(db, schedule.id, utc(2026, 6, 8, 0), utc(2026, 6, 9, 0))
    assert names(db, people, shifts) == [
        ("Ann", utc(2026, 6, 8, 0), utc(2026, 6, 8, 9)),
        ("Bob", utc(2026, 6, 8, 9), utc(2026, 6, 8, 17)),
        ("Ann", utc(2026, 6, 8, 17), utc(2026, 6, 9, 0)),
    ]
    assert [s.source for s in shifts] == ['layer "Base"', 'layer "Office"', 'layer "Base"']
    # Reordering puts Base on top: it covers everything, so Office never shows.
    base, office = schedule.layers
    service.reorder_layers(db, schedule, [office.id, base.id])
    shifts = final_shifts(db, schedule.id, utc(2026, 6, 8, 0), utc(2026, 6, 9, 0))
    # (Two pieces: the weekly shift changes hands, to Ann again, on Monday at 09:00.)
    assert names(db, people, shifts) == [
        ("Ann", utc(2026, 6, 8, 0), utc(2026, 6, 8, 9)),
        ("Ann", utc(2026, 6, 8, 9), utc(2026, 6, 9, 0)),
    ]


def test_layer_start_and_end_edges(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "UTC",
                "start_date": "2026-06-01",
                "end": "2026-06-03T12:00:00+00:00",
            }
        ]
    )
    assert on_call(db, schedule.id, utc(2026, 6, 1, 8, 59, 59)) == []
    assert on_call(db, schedule.id, utc(2026, 6, 1, 9))[0].user_id == people["Ann"].id
    (last,) = on_call(db, schedule.id, utc(2026, 6, 3, 11))
    assert last.end == utc(2026, 6, 3, 12)  # cut at the layer's end
    assert on_call(db, schedule.id, utc(2026, 6, 3, 12)) == []
    holes = gaps(db, schedule.id, utc(2026, 6, 1), utc(2026, 6, 4))
    assert holes == [(utc(2026, 6, 1), utc(2026, 6, 1, 9)), (utc(2026, 6, 3, 12), utc(2026, 6, 4))]


def test_override_edges_and_swap(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedule = make_schedule(
        layers=[
            {
                "members": ["Ann", "Bob"],
                "shift_unit": "days",
                "timezone": "UTC",
                "start_date": "2026-06-01",
            }
        ]
    )
    now = utc(2026, 6, 1)
    override = service.add_override(
        db,
        schedule,
        user_id=people["Cat"].id,
        start=utc(2026, 6, 1, 10),
        end=utc(2026, 6, 1, 12),
        swap_with_id=people["Ann"].id,
        by=people["Ann"],
        now=now,
    )
    assert on_call(db, schedule.id, utc(2026, 6, 1, 9, 59))[0].user_id == people["Ann"].id
    (covering,) = on_call(db, schedule.id, utc(2026, 6, 1, 10))
    assert covering.user_id == people["Cat"].id
    assert covering.override_id == override.id and covering.layer_id is None
    # It names the person it covers, not the person on call.
    assert covering.source == "swap covering Ann"
    assert on_call(db, schedule.id, utc(2026, 6, 1, 12))[0].user_id == people["Ann"].id
    shifts = final_shifts(db, schedule.id, utc(2026, 6, 1, 9), utc(2026, 6, 2, 9))
    assert names(db, people, shifts) == [
        ("Ann", utc(2026, 6, 1, 9), utc(2026, 6, 1, 10)),
        ("Cat", utc(2026, 6, 1, 10), utc(2026, 6, 1, 12)),
        ("Ann", utc(2026, 6, 1, 12), utc(2026, 6, 2, 9)),
    ]
    assert shifts[1].source == "swap covering Ann"
    # An override where no layer covers fills the gap.
    service.add_override(
        db, schedule, user_id=people["Dan"].id, start=utc(2026, 6, 1, 7),
        end=utc(2026, 6, 1, 9, 30), now=now,
    )  # fmt: skip
    assert gaps(db, schedule.id, utc(2026, 6, 1, 7), utc(2026, 6, 2)) == []
    dan = final_shifts(db, schedule.id, utc(2026, 6, 1, 7), utc(2026, 6, 1, 10))
    assert [(s.source, s.start, s.end) for s in dan if s.user_id == people["Dan"].id] == [
        ("override (nobody else was on call)", utc(2026, 6, 1, 7), utc(2026, 6, 1, 9)),
        ("override covering Ann", utc(2026, 6, 1, 9), utc(2026, 6, 1, 9, 30)),
    ]
    (at_nine,) = on_call(db, schedule.id, utc(2026, 6, 1, 9, 15))
    assert at_nine.source == "override covering Ann"
    assert upcoming_shifts(db, people["Cat"].id, now, utc(2026, 7, 1))[0].start == utc(
        2026, 6, 1, 10
    )


def test_on_call_many_reads_every_schedule_in_a_few_queries(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    schedules = [
        make_schedule(
            f"S{i}",
            layers=[
                {"members": ["Ann", "Bob"], "timezone": "UTC", "start_date": "2026-06-01"},
                {
                    "members": ["Cat"],
                    "timezone": "Asia/Kolkata",
                    "start_date": "2026-06-01",
                    "restrictions": [{"days": ["mon"], "start": "09:00", "end": "17:00"}],
                },
            ],
        )
        for i in range(20)
    ]
    service.add_override(
        db, schedules[3], user_id=people["Dan"].id, start=utc(2026, 6, 10),
        end=utc(2026, 6, 11), now=utc(2026, 6, 1),
    )  # fmt: skip
    db.flush()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.get_bind(), "before_cursor_execute", listener)
    try:
        result = on_call_many(db, [s.id for s in schedules] + [999_999], utc(2026, 6, 10, 12))
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listener)
    assert len(statements) <= 4, statements
    assert result[999_999] == []
    assert result[schedules[3].id][0].user_id == people["Dan"].id
    assert {result[s.id][0].user_id for s in schedules if s is not schedules[3]} == {
        people["Bob"].id
    }
    # Monday 15 June 04:00 UTC is 09:30 in Kolkata: the higher, restricted layer (Cat) wins.
    monday = on_call_many(db, [schedules[0].id], utc(2026, 6, 15, 4))
    assert monday[schedules[0].id][0].user_id == people["Cat"].id


def test_on_call_until_follows_the_person_through_the_final_schedule(
    db, people, make_schedule
) -> None:  # type: ignore[no-untyped-def]
    """ "Until" is when the person's unbroken time on call ends: across a handoff from a
    restricted higher layer to a lower one, up to the override that takes over, not the end
    of the shift that puts them on call now."""
    schedule = make_schedule(
        layers=[
            {"members": ["Ann", "Bob"], "shift_unit": "weeks", "timezone": "UTC",
             "start_date": "2026-06-01", "handoff_time": "09:00"},
            {"members": ["Ann"], "shift_unit": "days", "timezone": "UTC",
             "start_date": "2026-06-01", "handoff_time": "09:00",
             "restrictions": [{"days": ["mon"], "start": "09:00", "end": "17:00"}]},
        ]
    )  # fmt: skip
    service.add_override(
        db, schedule, user_id=people["Cat"].id, start=utc(2026, 6, 3, 12),
        end=utc(2026, 6, 3, 14), now=utc(2026, 6, 1),
    )  # fmt: skip
    monday = utc(2026, 6, 1, 10)  # a Monday: the restricted layer 2 puts Ann on call
    (now,) = on_call_until_many(db, [schedule.id], monday)[schedule.id]
    assert now.shift.user_id == people["Ann"].id
    assert now.shift.source == 'layer "Layer 2"' and now.shift.end == utc(2026, 6, 1, 17)
    assert (now.until, now.beyond) == (utc(2026, 6, 3, 12), False)  # Cat takes over then
    assert now.until_text == "until 2026-06-03 12:00 UTC"

    (cat,) = on_call_until_many(db, [schedule.id], utc(2026, 6, 3, 13))[schedule.id]
    assert cat.shift.source == "override covering Ann"
    assert (cat.until, cat.beyond) == (utc(2026, 6, 3, 14), False)

    # After the override Ann is back past the weekly handoff to Bob (Monday 8 June 09:00),
    # as layer 2 keeps her on call that Monday until 17:00.
    (back,) = on_call_until_many(db, [schedule.id], utc(2026, 6, 3, 14))[schedule.id]
    assert (back.shift.user_id, back.until) == (people["Ann"].id, utc(2026, 6, 8, 17))


def test_on_call_until_stops_at_the_horizon(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    alone = make_schedule(
        "Alone",
        layers=[{"members": ["Dan"], "shift_unit": "days", "timezone": "UTC",
                 "start_date": "2026-06-01"}],
    )  # fmt: skip
    empty = make_schedule("Empty")
    at = utc(2026, 6, 2, 12)
    found = on_call_until_many(db, [alone.id, empty.id], at, horizon=timedelta(days=14))
    assert found[empty.id] == []
    (dan,) = found[alone.id]
    assert dan.shift.end == utc(2026, 6, 3, 9)  # one daily shift of many in a row
    assert (dan.until, dan.beyond) == (at + timedelta(days=14), True)
    assert dan.until_text == "until beyond 2026-06-16 12:00 UTC"
