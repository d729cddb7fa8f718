"""Parking fee rules (table tests, hand-computed), plates, availability and the guidance score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.live import LiveMetric, LiveState
from backend.parking.enums import SpaceType
from backend.parking.rules import (
    TIER_KNOWN_FREE,
    TIER_NOT_RECOMMENDED,
    TIER_UNKNOWN,
    Availability,
    FeeRule,
    InvalidFeeRule,
    InvalidPlate,
    availability_from_detectors,
    availability_from_gate,
    compute_fee,
    guidance,
    normalize_plate,
)
from backend.worktime import SHANGHAI


def t(text: str) -> datetime:
    """A Shanghai wall-clock time; 2026-11-20 is a Friday."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


DAY_NIGHT: dict[str, Any] = {
    "bands": [
        {"span": "08:00-20:00", "per_hour_fen": 300, "label": "白天"},
        {"span": "20:00-08:00", "per_hour_fen": 100, "label": "夜间"},
    ],
    "unit_minutes": 60,
    "free_minutes": 15,
    "free_mode": "grace",
}
NIGHT_CAP = {**DAY_NIGHT, "bands": [DAY_NIGHT["bands"][0], {**DAY_NIGHT["bands"][1], "cap_fen": 500}]}
CAPPED_CALENDAR = {**NIGHT_CAP, "daily_cap_fen": 3000, "daily_cap_mode": "calendar_day"}
CAPPED_ROLLING = {**NIGHT_CAP, "daily_cap_fen": 3000, "daily_cap_mode": "rolling_24h"}
HALF_HOURS = {
    **DAY_NIGHT,
    "unit_minutes": 30,
}
STREET = {
    "bands": [
        {"span": "07:30-19:30", "per_hour_fen": 400},
        {"span": "19:30-07:30", "per_hour_fen": 0},
    ],
    "unit_minutes": 30,
    "free_minutes": 15,
    "free_mode": "deduct",
    "per_entry_cap_fen": 2000,
}

# (rule, entry, exit, expected fen, why) — every expectation worked out by hand.
FEES: list[tuple[dict[str, Any], str, str, int, str]] = [
    (DAY_NIGHT, "2026-11-20T10:00", "2026-11-20T10:10", 0, "10 min: within the 15 free minutes"),
    (DAY_NIGHT, "2026-11-20T10:00", "2026-11-20T10:15", 0, "exactly 15 min: still free"),
    (DAY_NIGHT, "2026-11-20T10:00", "2026-11-20T10:16", 300, "16 min: pays from entry, 1 started day hour"),
    (DAY_NIGHT, "2026-11-20T10:00", "2026-11-20T12:00", 600, "2 day hours"),
    (DAY_NIGHT, "2026-11-20T10:00", "2026-11-20T12:01", 900, "a started third hour"),
    (DAY_NIGHT, "2026-11-20T19:30", "2026-11-20T21:10", 500, "30 min day (1×300) + 70 min night (2×100)"),
    (DAY_NIGHT, "2026-11-20T22:00", "2026-11-21T02:00", 400, "across midnight: 4 night hours, one band"),
    (DAY_NIGHT, "2026-11-20T07:50", "2026-11-20T08:20", 400, "10 min night (1×100) + 20 min day (1×300)"),
    (
        DAY_NIGHT,
        "2026-11-20T18:00",
        "2026-11-22T09:00",
        6900,
        "Fri 2 day h 600 + night 12 h 1200 + Sat 12 day h 3600 + night 1200 + Sun 1 day h 300",
    ),
    (
        NIGHT_CAP,
        "2026-11-20T18:00",
        "2026-11-22T09:00",
        5500,
        "the same with nights capped at ¥5: 600+500+3600+500+300",
    ),
    (NIGHT_CAP, "2026-11-20T22:00", "2026-11-21T02:00", 400, "4 night hours stay under the ¥5 cap"),
    (NIGHT_CAP, "2026-11-20T20:00", "2026-11-21T08:00", 500, "a whole night: capped"),
    (
        CAPPED_CALENDAR,
        "2026-11-20T18:00",
        "2026-11-22T09:00",
        4800,
        "Fri 600+400=1000; Sat 00:00 100 (night cap 500 reached), day 2900 → 3000 (daily cap), "
        "Sat 20-24h 0 (Sat capped); Sun 00-05h 500 (Sat night's cap), day 300: 1000+3000+800",
    ),
    (
        CAPPED_ROLLING,
        "2026-11-20T18:00",
        "2026-11-22T09:00",
        4400,
        "first 24 h: 600 + night 500 + Sat day 1900 → 3000 (cap); next 24 h from Sat 18:00: 600 + 500 + 300",
    ),
    (CAPPED_CALENDAR, "2026-11-20T08:00", "2026-11-20T20:00", 3000, "12 day hours = 3600, daily cap 3000"),
    (HALF_HOURS, "2026-11-20T19:45", "2026-11-20T20:20", 200, "per 30 min: 15 min day (150) + 20 min night (50)"),
    (HALF_HOURS, "2026-11-20T10:00", "2026-11-20T11:01", 450, "3 started half hours of day at 150"),
    (STREET, "2026-11-20T09:00", "2026-11-20T09:10", 0, "within 15 min"),
    (STREET, "2026-11-20T09:00", "2026-11-20T09:40", 200, "first 15 min deducted: 25 min = 1 half hour at 200"),
    (STREET, "2026-11-20T18:00", "2026-11-20T21:00", 600, "18:15-19:30 = 3 half hours, the free night band 0"),
    (STREET, "2026-11-20T08:00", "2026-11-20T18:00", 2000, "08:15-18:00 = 20 half hours = 4000, entry cap 2000"),
    (STREET, "2026-11-20T20:00", "2026-11-21T07:00", 0, "all in the free night band"),
]


@pytest.mark.parametrize(("rule", "entry", "exit_", "fen", "why"), FEES, ids=[f[4][:40] for f in FEES])
def test_fee_table(rule: dict[str, Any], entry: str, exit_: str, fen: int, why: str) -> None:
    fee = compute_fee(FeeRule.from_json(rule), t(entry), t(exit_))
    assert fee.amount_fen == fen, why
    assert sum(line.amount_fen for line in fee.lines) == fee.amount_fen


def test_which_caps_applied_and_the_lines() -> None:
    fee = compute_fee(FeeRule.from_json(CAPPED_CALENDAR), t("2026-11-20T18:00"), t("2026-11-22T09:00"))
    assert fee.caps_applied == ("band", "daily")
    assert [(line.band, line.units, line.amount_fen) for line in fee.lines] == [
        ("白天", 2, 600),
        ("夜间", 12, 500),  # 400 on Friday + 100 on Saturday
        ("白天", 12, 2900),
        ("夜间", 12, 500),  # 0 on Saturday (capped) + 500 on Sunday
        ("白天", 1, 300),
    ]
    assert fee.stay_minutes == 39 * 60
    assert fee.billed_minutes == 39 * 60


def test_free_reasons() -> None:
    rule = FeeRule.from_json(DAY_NIGHT)
    assert compute_fee(rule, t("2026-11-20T10:00"), t("2026-11-20T10:05")).free_reason == "free_minutes"
    assert compute_fee(FeeRule.from_json(None), t("2026-11-20T10:00"), t("2026-11-20T18:00")).free_reason == "free_lot"
    assert compute_fee(rule, t("2026-11-20T10:00"), t("2026-11-20T09:00")).amount_fen == 0  # exit before entry


def test_monthly_pass_covers_its_days_only() -> None:
    rule = FeeRule.from_json(DAY_NIGHT)
    passes = [(t("2026-11-01T00:00"), t("2026-11-21T00:00"))]
    # Fri 22:00 → Sat 10:00: the pass covers until Saturday 00:00; then 8 night hours (800) + 2 day hours (600).
    fee = compute_fee(rule, t("2026-11-20T22:00"), t("2026-11-21T10:00"), passes)
    assert fee.amount_fen == 1400
    covered = compute_fee(rule, t("2026-11-20T08:00"), t("2026-11-20T18:00"), passes)
    assert (covered.amount_fen, covered.free_reason) == (0, "pass")


def test_utc_instants_are_billed_on_shanghai_bands() -> None:
    rule = FeeRule.from_json(DAY_NIGHT)
    # 11:30-13:10 UTC = 19:30-21:10 in Shanghai
    assert (
        compute_fee(
            rule, datetime(2026, 11, 20, 11, 30, tzinfo=UTC), datetime(2026, 11, 20, 13, 10, tzinfo=UTC)
        ).amount_fen
        == 500
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"bands": [{"span": "08:00-20:00", "per_hour_fen": 300}]},  # a gap
        {"bands": [{"span": "00:00-24:00", "per_hour_fen": 300}, {"span": "20:00-08:00", "per_hour_fen": 100}]},
        {"bands": [{"span": "00:00-24:00", "per_hour_fen": 5}], "unit_minutes": 30},  # 2.5 fen per half hour
        {"bands": [{"span": "00:00-24:00", "per_hour_fen": -1}]},
        {"bands": [{"span": "00:00-24:00", "per_hour_fen": 100}], "unit_minutes": 7},
        {"bands": [{"span": "00:00-24:00", "per_hour_fen": 100}], "daily_cap_mode": "weekly"},
        {"bands": [], "surprise": 1},
    ],
)
def test_bad_fee_rules_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidFeeRule):
        FeeRule.from_json(bad)


def test_fee_rule_round_trip_and_text() -> None:
    rule = FeeRule.from_json(CAPPED_CALENDAR)
    assert FeeRule.from_json(rule.to_json()) == rule
    assert rule.describe() == (
        "白天 08:00-20:00 ¥3/小时；夜间 20:00-08:00 ¥1/小时（最高¥5）；15分钟内免费；每自然日最高¥30"
    )


# --- plates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "new_energy"),
    [
        ("鄂A12345", "鄂A12345", False),
        ("鄂A·12345", "鄂A12345", False),
        (" 鄂a 123 45 ", "鄂A12345", False),
        ("京B9XY88", "京B9XY88", False),
        ("鄂A1234学", "鄂A1234学", False),
        ("鄂AD12345", "鄂AD12345", True),  # small new-energy, battery
        ("粤BF1234 5", "粤BF12345", True),  # small new-energy, hybrid
        ("沪AA12345", "沪AA12345", True),  # small new-energy, newer letters
        ("鄂A12345D", "鄂A12345D", True),  # large new-energy
        ("鄂Ａ１２３４５", "鄂A12345", False),  # full-width letter and digits
    ],
)
def test_plates_are_normalised(text: str, number: str, new_energy: bool) -> None:
    plate = normalize_plate(text)
    assert (plate.number, plate.new_energy) == (number, new_energy)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "鄂A1234",
        "鄂A1234567",
        "鄂I12345",
        "鄂AO1234",
        "AA12345",
        "鄂AD1234A",
        "鄂AZ12345",
        "鄂A123456",
        "X鄂A12345",
    ],
)
def test_bad_plates_are_refused(text: str) -> None:
    with pytest.raises(InvalidPlate):
        normalize_plate(text)


# --- availability and guidance ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def live(kind: str, object_id: str, **values: tuple[Any, float, int]) -> LiveState:
    metrics = {
        name: LiveMetric(v, NOW - timedelta(seconds=age), "dev", interval, age > 3 * interval)
        for name, (v, age, interval) in values.items()
    }
    return LiveState(
        kind, object_id, metrics, max(m.ts for m in metrics.values()), all(m.stale for m in metrics.values())
    )


def test_gate_availability() -> None:
    assert availability_from_gate(None) == Availability(False, None, False)
    fresh = availability_from_gate(live("parking_lot", "L", free_spaces=(12, 30, 60)))
    assert (fresh.known, fresh.free, fresh.full) == (True, 12, False)
    full = availability_from_gate(live("parking_lot", "L", free_spaces=(0, 30, 60)))
    assert (full.known, full.full) == (True, True)
    stale = availability_from_gate(live("parking_lot", "L", free_spaces=(0, 200, 60)))
    assert (stale.known, stale.full, stale.free) == (False, False, None)  # stale "full" is unknown
    assert stale.stale_since == NOW - timedelta(seconds=200) + timedelta(seconds=180)
    # the gate counts the whole lot: for charging spaces only "full" is certain
    assert not availability_from_gate(live("parking_lot", "L", free_spaces=(5, 30, 60)), SpaceType.CHARGING).known


def test_detector_availability() -> None:
    spaces = [("S1", "normal"), ("S2", "normal"), ("S3", "charging")]
    occupied = {code: live("parking_space", code, occupied=(True, 60, 600)) for code, _ in spaces}
    assert availability_from_detectors(spaces, occupied).full
    one_free = {**occupied, "S3": live("parking_space", "S3", occupied=(False, 60, 600))}
    a = availability_from_detectors(spaces, one_free)
    assert (a.known, a.free, a.full, dict(a.free_by_type)) == (True, 1, False, {"charging": 1})
    assert availability_from_detectors(spaces, one_free, SpaceType.NORMAL).full
    # one space without fresh data: not full, not known
    partly = {**occupied, "S2": live("parking_space", "S2", occupied=(True, 5000, 600))}
    assert not availability_from_detectors(spaces, partly).known
    assert not availability_from_detectors(spaces, {}).known


def test_guidance_tiers_and_score() -> None:
    free_near = guidance(100, 1000, Availability(True, 5, False), True)
    free_far = guidance(900, 1000, Availability(True, 40, False), True)
    unknown_near = guidance(50, 1000, Availability(False, None, False), True)
    full_nearest = guidance(10, 1000, Availability(True, 0, True), True)
    closed = guidance(10, 1000, Availability(True, 50, False), False)
    assert (free_near.tier, free_near.score) == (TIER_KNOWN_FREE, 70 * 0.9 + 30 * 5 / 20)
    assert (free_far.tier, free_far.score) == (TIER_KNOWN_FREE, round(70 * 0.1 + 30, 2))
    assert (unknown_near.tier, unknown_near.score) == (TIER_UNKNOWN, 66.5)
    assert (full_nearest.tier, full_nearest.recommended, full_nearest.reason) == (TIER_NOT_RECOMMENDED, False, "full")
    assert (closed.recommended, closed.reason) == (False, "closed")
    ranked = sorted([full_nearest, unknown_near, free_far, free_near], key=lambda g: (g.tier, -g.score))
    assert ranked == [free_near, free_far, unknown_near, full_nearest]
