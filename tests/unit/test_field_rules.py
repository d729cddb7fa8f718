"""Pure rules of field work: geofence edges, late/early/absent, track cleaning, distance and encoding."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import box

from backend.errors import ValidationFailed
from backend.field.enums import AttendanceFlag, AttendanceStatus
from backend.field.rules import (
    AttendancePolicy,
    TrackPoint,
    assess,
    check_geofence,
    check_in_refusal,
    check_out_refusal,
    clean_track,
    day_bounds,
    early_by,
    effective_time,
    fingerprint,
    late_by,
    local_day,
    on_shift,
    outside_distance_m,
    pack_points,
    plausible_link,
    split_by_day,
    track_distance_m,
    unpack_points,
)
from backend.geo import EARTH_RADIUS_M, destination_point, haversine_m

# A grid-sized square (~500 m) near 邾城, axis-aligned like the demo grids; x = lng, y = lat.
LAT0, LNG0 = 30.84, 114.80
SOUTH_WEST = (LAT0, LNG0)
NORTH_EAST = destination_point(*destination_point(LAT0, LNG0, 0, 500), 90, 500)
SQUARE = box(LNG0, LAT0, NORTH_EAST.lng, NORTH_EAST.lat)
MID_LAT = (LAT0 + NORTH_EAST.lat) / 2


def west_of_edge(metres: float) -> tuple[float, float]:
    """A point ``metres`` due west of the middle of the square's western edge."""
    p = destination_point(MID_LAT, LNG0, 270, metres)
    return p.lat, p.lng


# --- geofence -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "point", "outside", "accepted"),
    [
        ("centre", ((LAT0 + NORTH_EAST.lat) / 2, (LNG0 + NORTH_EAST.lng) / 2), 0.0, True),
        ("on the western edge", (MID_LAT, LNG0), 0.0, True),
        ("on a corner", SOUTH_WEST, 0.0, True),
        ("1 m outside", west_of_edge(1), 1.0, True),
        ("49 m outside", west_of_edge(49), 49.0, True),
        ("exactly the tolerance", west_of_edge(50), 50.0, True),
        ("51 m outside", west_of_edge(51), 51.0, False),
        ("a kilometre away", west_of_edge(1000), 1000.0, False),
    ],
)
def test_geofence_edges(where: str, point: tuple[float, float], outside: float, accepted: bool) -> None:
    fence = check_geofence([SQUARE], *point, tolerance_m=50)
    assert fence.outside_m == pytest.approx(outside, abs=0.05), where
    assert fence.accepted is accepted, where
    assert fence.inside is (outside == 0.0)


def test_outside_a_corner_counts_the_diagonal() -> None:
    # 40 m south and 40 m west of the south-west corner: 56.6 m away, beyond a 50 m tolerance
    # although each axis alone is within it.
    p = destination_point(*destination_point(LAT0, LNG0, 180, 40), 270, 40)
    assert outside_distance_m(SQUARE, p.lat, p.lng) == pytest.approx(math.hypot(40, 40), abs=0.1)
    assert not check_geofence([SQUARE], p.lat, p.lng, 50).accepted


def test_geofence_distance_matches_the_great_circle() -> None:
    lat, lng = west_of_edge(300)
    assert outside_distance_m(SQUARE, lat, lng) == pytest.approx(haversine_m(lat, lng, MID_LAT, LNG0), rel=1e-3)


def test_the_nearest_of_several_grids_counts_and_no_grid_is_never_inside() -> None:
    far = box(LNG0 + 1, LAT0 + 1, LNG0 + 1.01, LAT0 + 1.01)
    lat, lng = west_of_edge(20)
    assert check_geofence([far, SQUARE], lat, lng, 50).outside_m == pytest.approx(20, abs=0.05)
    nothing = check_geofence([], lat, lng, 50)
    assert math.isinf(nothing.outside_m) and not nothing.accepted
    with pytest.raises(ValidationFailed):
        check_geofence([SQUARE], lat, lng, -1)


# --- attendance ---------------------------------------------------------------------------------------

START = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
END = START + timedelta(hours=9)  # 17:30
POLICY = AttendancePolicy(late_grace=timedelta(minutes=5), early_grace=timedelta(minutes=0))
S = timedelta(seconds=1)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("check_in", "expected_late_s"),
    [
        (START - 30 * M, 0),  # early is fine
        (START, 0),
        (START + 5 * M, 0),  # exactly at the grace limit: on time
        (START + 5 * M + S, 301),  # one second past it: late, counted from the start
        (START + 2 * 60 * M, 7200),
    ],
)
def test_late(check_in: datetime, expected_late_s: int) -> None:
    assert late_by(START, check_in, POLICY) == expected_late_s
    verdict = assess(START, END, check_in, END, END + M, POLICY)
    assert (AttendanceFlag.late in verdict.flags) is bool(expected_late_s)
    assert verdict.late_s == expected_late_s


@pytest.mark.parametrize(
    ("check_out", "early_grace", "expected_early_s"),
    [
        (END, timedelta(0), 0),  # exactly at the end: not early
        (END + 30 * M, timedelta(0), 0),
        (END - S, timedelta(0), 1),
        (END - 60 * M, timedelta(0), 3600),
        (END - 5 * M, timedelta(minutes=5), 0),  # within an early grace
        (END - 5 * M - S, timedelta(minutes=5), 301),
    ],
)
def test_early_leave(check_out: datetime, early_grace: timedelta, expected_early_s: int) -> None:
    policy = AttendancePolicy(early_grace=early_grace)
    assert early_by(END, check_out, policy) == expected_early_s
    verdict = assess(START, END, START, check_out, END + M, policy)
    assert (AttendanceFlag.early_leave in verdict.flags) is bool(expected_early_s)
    assert verdict.status is AttendanceStatus.checked_out
    assert verdict.normal is not bool(expected_early_s)


@pytest.mark.parametrize(
    ("check_in", "check_out", "now", "status"),
    [
        (None, None, START - M, AttendanceStatus.scheduled),
        (None, None, START, AttendanceStatus.not_checked_in),
        (None, None, END - S, AttendanceStatus.not_checked_in),
        (None, None, END, AttendanceStatus.absent),  # no check-in by the end: absent
        (None, None, END + timedelta(days=3), AttendanceStatus.absent),
        (START, None, START + M, AttendanceStatus.on_duty),
        (START, None, END + 4 * 60 * M - S, AttendanceStatus.on_duty),  # check-out window still open
        (START, None, END + 4 * 60 * M, AttendanceStatus.no_check_out),
        (START, END, END + M, AttendanceStatus.checked_out),
    ],
)
def test_status(check_in: datetime | None, check_out: datetime | None, now: datetime, status: AttendanceStatus) -> None:
    assert assess(START, END, check_in, check_out, now, POLICY).status is status


def test_late_and_early_together_and_normal() -> None:
    both = assess(START, END, START + 10 * M, END - 10 * M, END, POLICY)
    assert both.flags == (AttendanceFlag.late, AttendanceFlag.early_leave)
    assert (both.late_s, both.early_leave_s) == (600, 600) and not both.normal
    assert assess(START, END, START, END, END, POLICY).normal


@pytest.mark.parametrize(
    ("at", "refusal"),
    [
        (START - 60 * M - S, "too_early"),
        (START - 60 * M, None),  # check-in opens an hour before
        (END - S, None),
        (END, "shift_over"),  # a check-in after the end is refused: the shift stays absent
    ],
)
def test_check_in_window(at: datetime, refusal: str | None) -> None:
    assert check_in_refusal(START, END, at, POLICY) == refusal


@pytest.mark.parametrize(
    ("check_in", "at", "refusal"),
    [
        (None, END, "not_checked_in"),
        (START, START - S, "before_check_in"),
        (START, END + 4 * 60 * M, None),
        (START, END + 4 * 60 * M + S, "window_closed"),
    ],
)
def test_check_out_window(check_in: datetime | None, at: datetime, refusal: str | None) -> None:
    assert check_out_refusal(check_in, END, at, POLICY) == refusal


def test_on_shift() -> None:
    assert on_shift(START, END, START, None, START + M, POLICY)
    assert not on_shift(START, END, None, None, START + M, POLICY)
    assert not on_shift(START, END, START, END, END, POLICY)
    assert not on_shift(START, END, START, None, END + 4 * 60 * M + S, POLICY)


def test_a_shift_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationFailed):
        assess(START, START, None, None, START, POLICY)


# --- tracks -------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def north(
    i: int, step_m: float = 20.0, dt_s: int = 15, *, accuracy: float = 8.0, speed: float | None = None
) -> TrackPoint:
    p = destination_point(LAT0, LNG0, 0, i * step_m)
    return TrackPoint(T0 + timedelta(seconds=i * dt_s), p.lat, p.lng, accuracy, speed)


def test_clean_track_keeps_a_walk_and_sorts_it() -> None:
    walk = [north(i) for i in range(10)]
    cleaned = clean_track(list(reversed(walk)), now=NOW)
    assert cleaned.kept == walk and cleaned.dropped == {}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda: north(5, accuracy=100.5), "inaccurate"),
        (lambda: north(5, speed=150 / 3.6 + 0.1), "too_fast"),
        (lambda: TrackPoint(T0 + timedelta(seconds=75), LAT0 + 0.05, LNG0, 5.0), "jump"),  # 5.5 km in 15 s
        (lambda: TrackPoint(T0 + timedelta(seconds=60), LAT0, LNG0, 5.0), "duplicate"),  # same time as point 4
        (lambda: TrackPoint(NOW + timedelta(minutes=6), LAT0, LNG0, 5.0), "future"),
        (lambda: TrackPoint(NOW - timedelta(days=32), LAT0, LNG0, 5.0), "too_old"),
        (lambda: TrackPoint(T0 + timedelta(seconds=61), 91.0, LNG0, 5.0), "invalid"),
    ],
)
def test_absurd_points_are_dropped(bad: object, reason: str) -> None:
    walk = [north(i) for i in range(5)] + [north(i) for i in range(6, 10)]
    point = bad()  # type: ignore[operator]
    cleaned = clean_track([*walk, point], now=NOW)
    assert point not in cleaned.kept and cleaned.dropped == {reason: 1}
    assert cleaned.kept == walk


def test_accuracy_of_exactly_100_m_and_150_kmh_are_kept() -> None:
    ok = clean_track([north(0), north(1, accuracy=100.0, speed=150 / 3.6)], now=NOW)
    assert len(ok.kept) == 2


def test_a_jump_from_the_previous_batch_is_caught_but_an_older_batch_stands_alone() -> None:
    previous = north(-1)
    glitch = TrackPoint(T0, LAT0 + 0.1, LNG0, 5.0)  # 11 km away 15 s after the previous batch
    cleaned = clean_track([glitch, north(1), north(2)], now=NOW, previous=previous)
    assert cleaned.dropped == {"jump": 1} and cleaned.kept == [north(1), north(2)]
    later_previous = TrackPoint(T0 + timedelta(hours=1), LAT0 + 0.1, LNG0, 5.0)  # this batch arrived late
    assert clean_track([north(0), north(1)], now=NOW + timedelta(hours=1), previous=later_previous).kept == [
        north(0),
        north(1),
    ]


def test_a_bad_anchor_does_not_poison_what_follows() -> None:
    # The last kept point of the earlier batch was itself wrong (11 km off): the new run agrees with
    # itself, so after RECOVER_AFTER points the run is believed, all of it.
    bad_anchor = TrackPoint(T0 - timedelta(seconds=15), LAT0 + 0.1, LNG0, 5.0)
    walk = [north(i) for i in range(6)]
    cleaned = clean_track(walk, now=NOW, previous=bad_anchor)
    assert cleaned.kept == walk and cleaned.dropped == {}


def test_a_short_run_of_glitches_is_dropped() -> None:
    glitches = [TrackPoint(T0 + timedelta(seconds=s), LAT0 + 0.1, LNG0, 5.0) for s in (31, 46)]  # 2 < 3
    walk = [north(i) for i in (0, 1, 4, 5)]
    cleaned = clean_track([*walk, *glitches], now=NOW)
    assert cleaned.kept == walk and cleaned.dropped == {"jump": 2}


def test_distance_is_the_haversine_sum() -> None:
    walk = [north(i) for i in range(20)]
    # Along a meridian the great circle is exact: 19 steps of 20 m.
    assert track_distance_m(walk) == pytest.approx(19 * 20.0, rel=1e-9)
    dlat = math.radians(walk[-1].lat - walk[0].lat)
    assert track_distance_m(walk) == pytest.approx(EARTH_RADIUS_M * dlat, rel=1e-9)
    assert plausible_link(walk[0], walk[1]) and not plausible_link(walk[1], walk[0])


def test_pack_round_trip_is_compact_and_exact_to_a_centimetre() -> None:
    walk = [north(i, speed=1.25 if i % 2 else None) for i in range(100)]
    started_at, blob = pack_points(walk)
    assert started_at == walk[0].ts and len(blob) == 1 + 16 * len(walk)
    back = unpack_points(started_at, blob)
    for a, b in zip(walk, back, strict=True):
        assert a.ts == b.ts and a.speed == b.speed and a.accuracy == b.accuracy
        assert haversine_m(a.lat, a.lng, b.lat, b.lng) < 0.02
    with pytest.raises(ValueError):
        unpack_points(started_at, b"\x09" + blob[1:])


def test_split_by_local_day() -> None:
    midnight_shanghai = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 00:00 on the 24th in Shanghai
    points = [TrackPoint(midnight_shanghai + timedelta(seconds=s), LAT0, LNG0, 5.0) for s in (-30, -15, 0, 15)]
    runs = split_by_day(points)
    assert [len(r) for r in runs] == [2, 2]
    assert local_day(runs[0][0].ts).day == 23 and local_day(runs[1][0].ts).day == 24
    start, end = day_bounds(local_day(runs[1][0].ts))
    assert start == midnight_shanghai and end == midnight_shanghai + timedelta(days=1)


# --- offline writes -----------------------------------------------------------------------------------


def test_fingerprint_ignores_key_order_but_not_content() -> None:
    a = fingerprint("case.take", {"case_id": "x", "note": "ok"})
    assert a == fingerprint("case.take", {"note": "ok", "case_id": "x"})
    assert a != fingerprint("case.take", {"case_id": "x", "note": "changed"})
    assert a != fingerprint("case.finish", {"case_id": "x", "note": "ok"})


def test_effective_time_never_in_the_future_nor_too_old() -> None:
    window = timedelta(hours=72)
    assert effective_time(NOW - timedelta(hours=2), NOW, window) == NOW - timedelta(hours=2)
    assert effective_time(NOW + timedelta(hours=2), NOW, window) == NOW
    with pytest.raises(ValidationFailed):
        effective_time(NOW - timedelta(hours=73), NOW, window)
    with pytest.raises(ValidationFailed):
        effective_time(datetime(2026, 11, 23, 9, 0), NOW, window)  # naive on purpose


def test_days_outside_this_century_are_refused_not_overflowed() -> None:
    from datetime import date

    from backend.field.rules import check_day

    assert check_day(date(2026, 11, 23)) == date(2026, 11, 23)
    for bad in (date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(ValidationFailed):
            day_bounds(bad)
    with pytest.raises(ValidationFailed):
        local_day(datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
