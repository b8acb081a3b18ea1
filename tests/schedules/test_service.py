"""Bad input is refused with a message naming the field, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.schedules.conftest import utc
from tocsin.catalog import service as catalog
from tocsin.errors import Conflict, ValidationFailed
from tocsin.schedules import service
from tocsin.schedules.models import Layer, Override, Schedule

LAYER = {"name": "Weekly", "timezone": "UTC", "start_date": "2026-06-01"}


def test_schedule_fields_are_checked(db, people) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as info:
        service.create_schedule(db, name="Primary", timezone="Mars/Olympus")
    assert info.value.field == "timezone" and "Mars/Olympus" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        service.create_schedule(db, name="  ")
    assert info.value.field == "name"
    service.create_schedule(db, name="Primary")
    with pytest.raises(Conflict) as conflict:
        service.create_schedule(db, name="primary")
    assert conflict.value.field == "name"
    assert db.scalar(select(func.count(Schedule.id))) == 1


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"member_ids": []}, "member_ids", "at least one member"),
        ({"member_ids": [424242]}, "member_ids", "no user with id 424242"),
        ({"timezone": "Nowhere/City"}, "timezone", "unknown time zone"),
        ({"shift_unit": "fortnights"}, "shift_unit", "must be one of"),
        ({"shift_length": 30, "shift_unit": "seconds"}, "shift_length", "1 hour"),
        ({"handoff_time": "25:00"}, "handoff_time", "HH:MM"),
        ({"start_date": "June"}, "start_date", "YYYY-MM-DD"),
        ({"end": "2026-05-01T00:00:00+00:00"}, "end", "after the layer's start"),
        ({"end": "2026-07-01T00:00:00"}, "end", "time zone"),
        (
            {"restrictions": [{"days": ["someday"], "start": "09:00", "end": "17:00"}]},
            "restrictions",
            "not a weekday",
        ),
        (
            {"restrictions": [{"days": ["mon"], "start": "9", "end": "17:00"}]},
            "restrictions[0].start",
            "HH:MM",
        ),
    ],
)
def test_layer_fields_are_checked(db, people, data, field, words) -> None:  # type: ignore[no-untyped-def]
    schedule = service.create_schedule(db, name="Primary")
    with pytest.raises(ValidationFailed) as info:
        service.add_layer(db, schedule, {**LAYER, "member_ids": [people["Ann"].id], **data})
    assert info.value.field == field.split("[")[0] or field in info.value.message
    assert words in info.value.message
    assert db.scalar(select(func.count(Layer.id))) == 0


def test_deactivated_people_cannot_join_a_rotation(db, people) -> None:  # type: ignore[no-untyped-def]
    catalog.create_user(db, name="Old", email="old@example.com", role="admin")
    catalog.update_user(db, people["Dan"], {"active": False})
    schedule = service.create_schedule(db, name="Primary")
    with pytest.raises(ValidationFailed, match="Dan is deactivated"):
        service.add_layer(db, schedule, {**LAYER, "member_ids": [people["Dan"].id]})


def test_layers_stack_and_reorder(db, people) -> None:  # type: ignore[no-untyped-def]
    schedule = service.create_schedule(db, name="Primary")
    first = service.add_layer(db, schedule, {**LAYER, "member_ids": [people["Ann"].id]})
    second = service.add_layer(
        db, schedule, {**LAYER, "name": "Backup", "member_ids": [people["Bob"].id]}
    )
    assert [layer.name for layer in schedule.layers] == ["Weekly", "Backup"]
    with pytest.raises(Conflict, match="already has a layer named 'Weekly'"):
        service.add_layer(db, schedule, {**LAYER, "member_ids": [people["Ann"].id]})
    service.move_layer(db, second, -1)
    assert [layer.id for layer in schedule.layers] == [second.id, first.id]
    with pytest.raises(ValidationFailed) as info:
        service.reorder_layers(db, schedule, [first.id])
    assert info.value.field == "layer_ids"
    service.update_layer(db, first, {"member_ids": [people["Cat"].id, people["Cat"].id]})
    assert first.member_ids == [people["Cat"].id] * 2
    with pytest.raises(ValidationFailed):
        service.update_layer(db, first, {"member_ids": []})


def test_override_ranges_are_checked(db, people) -> None:  # type: ignore[no-untyped-def]
    schedule = service.create_schedule(db, name="Primary")
    service.add_layer(db, schedule, {**LAYER, "member_ids": [people["Ann"].id]})
    now = utc(2026, 6, 1)
    ann, bob = people["Ann"].id, people["Bob"].id

    def add(**kw):  # type: ignore[no-untyped-def]
        data = {"user_id": bob, "start": utc(2026, 6, 2), "end": utc(2026, 6, 3), "now": now}
        return service.add_override(db, schedule, **{**data, **kw})

    with pytest.raises(ValidationFailed) as info:
        add(end=utc(2026, 6, 1, 12))
    assert info.value.field == "end" and "after start" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        add(start=utc(2026, 5, 1), end=utc(2026, 5, 2))
    assert info.value.field == "end" and "past" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        add(user_id=999)
    assert info.value.field == "user_id"
    with pytest.raises(ValidationFailed) as info:
        add(swap_with_id=bob)
    assert info.value.field == "swap_with_id"
    with pytest.raises(ValidationFailed) as info:
        add(swap_with_id=people["Cat"].id)  # Cat is not on call then
    assert "Cat is not on call" in info.value.message
    add(swap_with_id=ann)
    with pytest.raises(Conflict) as conflict:
        add(user_id=people["Cat"].id, start=utc(2026, 6, 2, 23), end=utc(2026, 6, 4))
    assert (
        conflict.value.field == "start"
        and "overlaps the override putting Bob on call" in conflict.value.message
    )
    add(user_id=people["Cat"].id, start=utc(2026, 6, 3), end=utc(2026, 6, 4))  # touching is fine
    assert db.scalar(select(func.count(Override.id))) == 2
