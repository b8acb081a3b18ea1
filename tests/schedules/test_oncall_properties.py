"""Properties of the computation, on generated layers in zones with daylight saving (including
Lord Howe's half-hour change) and generated overrides: no database, thousands of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.schedules.oncall import Shift, _at, _final, _Layer, uncovered
from tocsin.schedules.rotation import DAYS, Rotation

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
]
LENGTHS = [3600, 5400, 8 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400]
WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)


@st.composite
def restriction(draw):  # type: ignore[no-untyped-def]
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    start = draw(st.sampled_from(["00:00", "01:30", "08:00", "09:00", "17:00", "22:15"]))
    end = draw(st.sampled_from(["00:00", "02:30", "09:00", "17:00", "24:00"]))
    return {"days": days, "start": start, "end": end}


@st.composite
def layer(draw, index: int = 0):  # type: ignore[no-untyped-def]
    rotation = Rotation.build(
        timezone=draw(st.sampled_from(ZONES)),
        start_date=date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 400))),
        handoff_time=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        shift_seconds=draw(st.sampled_from(LENGTHS)),
        end=draw(st.none() | st.just(WINDOW_START + timedelta(days=draw(st.integers(1, 500))))),
        members=draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)),
        restrictions=draw(st.lists(restriction(), max_size=2)),
    )
    return rotation


@st.composite
def schedule(draw):  # type: ignore[no-untyped-def]
    rotations = draw(st.lists(layer(), min_size=1, max_size=3))
    layers = [_Layer(i + 1, 1, i, f"L{i}", "rotation", r, []) for i, r in enumerate(rotations)][
        ::-1
    ]  # highest position first, as the loader sorts them
    overrides = []
    cursor = WINDOW_START + timedelta(days=draw(st.integers(0, 400)))
    for n in range(draw(st.integers(0, 3))):
        cursor += timedelta(hours=draw(st.integers(0, 48)))
        end = cursor + timedelta(minutes=draw(st.integers(1, 3000)))
        overrides.append(Shift(9, cursor, end, 1, None, 100 + n, "override"))
        cursor = end
    return layers, overrides


windows = st.tuples(
    st.integers(0, 500 * 24), st.integers(1, 24 * 21)
).map(lambda t: (WINDOW_START + timedelta(hours=t[0]),
                 WINDOW_START + timedelta(hours=t[0] + t[1])))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(schedule(), windows, st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_final_schedule_is_disjoint_and_agrees_with_on_call(sched, window, samples) -> None:  # type: ignore[no-untyped-def]
    layers, overrides = sched
    lo, hi = window
    final = _final(layers, overrides, lo, hi)
    for shift in final:
        assert lo <= shift.start < shift.end <= hi
    for a, b in zip(final, final[1:], strict=False):
        assert a.end <= b.start  # no overlaps
    for fraction in samples:
        instant = lo + (hi - lo) * fraction
        if instant >= hi:
            continue
        holding = [s for s in final if s.start <= instant < s.end]
        now = _at(layers, overrides, instant)
        assert [s.user_id for s in holding] == [s.user_id for s in now]
        assert [s.source for s in holding] == [s.source for s in now]
        for s in now:
            assert s.start <= instant < s.end


@settings(max_examples=300, deadline=None)
@given(schedule(), windows)
def test_every_moment_a_layer_covers_is_covered(sched, window) -> None:  # type: ignore[no-untyped-def]
    layers, overrides = sched
    lo, hi = window
    holes = uncovered(_final(layers, overrides, lo, hi), lo, hi)
    for begin, end in holes:
        for instant in (begin, begin + (end - begin) / 2):
            assert all(layer.rotation.covering(instant) is None for layer in layers)
            assert not any(o.start <= instant < o.end for o in overrides)


@settings(max_examples=500, deadline=None)
@given(layer(), windows)
def test_shift_arithmetic_matches_walking_the_shifts(rotation, window) -> None:  # type: ignore[no-untyped-def]
    lo, hi = window
    walked = list(rotation.shifts(lo, hi))
    for (_, _, end), (_, start, _) in zip(walked, walked[1:], strict=False):
        assert end == start  # a rotation covers its span without holes or overlaps
    for user, start, end in walked:
        found = rotation.shift_at(start)
        assert found is not None and found[0] == user
        assert found[1] <= start and end <= found[2]
        # Handoffs are at the handoff's local wall-clock time (or just after a skipped hour).
        if found[1] == start and start != rotation.start:
            local = start.astimezone(rotation.tz).replace(tzinfo=None)
            assert (local - rotation.anchor) % rotation.step in (
                timedelta(0),
                timedelta(minutes=30),
                timedelta(hours=1),
            )
