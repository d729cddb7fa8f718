"""Alarm conditions, clear conditions, schedules and the alarm lifecycle — table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.devices.enums import AlarmState
from backend.devices.rules import (
    RuleError,
    RuleState,
    evaluate,
    evaluate_silence,
    next_alarm_state,
    parse_rule,
    parse_schedule,
)
from backend.errors import InvalidTransition

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def series(metric: str, values: list[Any], step_min: float = 1.0) -> list[tuple[datetime, dict[str, Any]]]:
    return [(at(i * step_min), {metric: v}) for i, v in enumerate(values)]


def kinds(events: list[Any]) -> list[str]:
    return [f"{e.kind}@{int((e.at - T0).total_seconds() // 60)}" for e in events]


GAS = ({"kind": "threshold", "metric": "lel", "op": ">=", "value": 20}, {"op": "<", "value": 10, "times": 3})
BIN = ({"kind": "for_minutes", "metric": "fill", "op": ">=", "value": 95, "minutes": 30}, None)
TILT = ({"kind": "times_in_row", "metric": "tilt", "op": ">", "value": 10, "times": 2}, {"op": "<=", "value": 5})


@pytest.mark.parametrize(
    ("rule", "metric", "values", "step", "expected"),
    [
        # threshold: raises on the first reading over, repeats while over, clears after 3 readings below 10
        (GAS, "lel", [5, 25, 30, 15, 8, 9, 7, 6], 1, ["raise@1", "repeat@2", "clear@6"]),
        # hysteresis: between 10 and 20 neither repeats nor clears, and breaks the clear streak
        (GAS, "lel", [25, 8, 12, 8, 8, 8], 1, ["raise@0", "clear@5"]),
        (GAS, "lel", [1, 2, 3], 1, []),
        # for_minutes: 95 % held for 30 minutes (readings every 10 min) → raise at 30; clears below the default
        (BIN, "fill", [96, 97, 99, 98, 90], 10, ["raise@30", "clear@40"]),
        # a dip below resets the clock
        (BIN, "fill", [96, 97, 50, 96, 97, 98], 10, []),
        (BIN, "fill", [96, 97, 50, 96, 97, 98, 99], 10, ["raise@60"]),
        # times_in_row: two readings over 10 in a row; a single spike does not raise
        (TILT, "tilt", [12, 3, 12, 13, 14, 4], 1, ["raise@3", "repeat@4", "clear@5"]),
        (TILT, "tilt", [12, 3, 12, 3], 1, []),
        # between the clear (≤ 5) and the trigger (> 10): the alarm stays up, nothing happens
        (TILT, "tilt", [12, 13, 8, 8, 5], 1, ["raise@1", "clear@4"]),
    ],
)
def test_conditions_raise_repeat_and_clear(
    rule: tuple[dict[str, Any], dict[str, Any] | None], metric: str, values: list[Any], step: float, expected: list[str]
) -> None:
    parsed = parse_rule("r", rule[0], rule[1])
    state, events = evaluate(parsed, RuleState(), series(metric, values, step))
    assert kinds(events) == expected
    assert state.active == (expected[-1].startswith(("raise", "repeat")) if expected else False)


def test_state_carries_over_batches_as_if_one() -> None:
    parsed = parse_rule("r", *BIN)
    readings = series("fill", [96, 97, 98, 99, 40], 10)
    whole = kinds(evaluate(parsed, RuleState(), readings)[1])
    state, first = evaluate(parsed, RuleState(), readings[:2])
    state, second = evaluate(parsed, state, readings[2:])
    assert kinds(first + second) == whole == ["raise@30", "clear@40"]


def test_readings_not_newer_than_the_last_evaluated_are_skipped() -> None:
    parsed = parse_rule("r", *GAS)
    state, events = evaluate(parsed, RuleState(), [(at(5), {"lel": 25})])
    assert kinds(events) == ["raise@5"]
    state, late = evaluate(parsed, state, [(at(1), {"lel": 0}), (at(2), {"lel": 0}), (at(3), {"lel": 0})])
    assert late == [] and state.active and state.last_ts == at(5)


def test_a_reading_without_the_metric_does_not_count() -> None:
    parsed = parse_rule("r", *TILT)
    readings = [(at(0), {"tilt": 12}), (at(1), {"battery": 80}), (at(2), {"tilt": 12})]
    assert kinds(evaluate(parsed, RuleState(), readings)[1]) == ["raise@2"]


@pytest.mark.parametrize(
    ("attrs", "value", "raises"),
    [
        ({"toilet_class": 1}, 0.5, True),  # 一类 0.3 mg/m³
        ({"toilet_class": 2}, 0.5, False),  # 二类 1 mg/m³
        ({"toilet_class": "3"}, 2.5, False),  # 三类 3 mg/m³
        ({}, 1.5, True),  # unknown class: the fallback value 1.0
    ],
)
def test_threshold_by_device_attribute(attrs: dict[str, Any], value: float, raises: bool) -> None:
    condition = {
        "kind": "threshold",
        "metric": "nh3",
        "op": ">",
        "by_attr": "toilet_class",
        "values": {"1": 0.3, "2": 1.0, "3": 3.0},
        "value": 1.0,
    }
    _, events = evaluate(parse_rule("r", condition), RuleState(), [(T0, {"nh3": value})], attrs)
    assert bool(events) is raises


@pytest.mark.parametrize(
    ("schedule", "ts", "covered"),
    [
        ({"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"}, T0, True),  # Mon 10:00 CST
        ({"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"}, T0 + timedelta(hours=11), False),  # 21:00
        ({"weekdays": [6, 7], "start": "08:00", "end": "20:00"}, T0, False),  # not at weekends
        ({"weekdays": [1], "start": "22:00", "end": "06:00"}, T0 + timedelta(hours=13), True),  # Mon 23:00
        (
            {"weekdays": [1], "start": "22:00", "end": "06:00"},
            T0 + timedelta(hours=16),
            True,
        ),  # Tue 02:00: Monday's night
        ({"weekdays": [2], "start": "22:00", "end": "06:00"}, T0 + timedelta(hours=16), False),
        ({"start": "01:00", "end": "03:00", "tz": "UTC"}, T0, True),  # 02:00 UTC, every day
        ({"start": "09:00", "end": "11:00", "tz": "UTC"}, T0, False),
    ],
)
def test_schedule_windows(schedule: dict[str, Any], ts: datetime, covered: bool) -> None:
    parsed = parse_schedule(schedule)
    assert parsed is not None
    assert parsed.covers(ts) is covered


def test_outside_the_schedule_a_rule_does_not_raise_but_still_clears() -> None:
    rule = parse_rule("r", GAS[0], None, {"weekdays": [1], "start": "09:00", "end": "11:00"})
    state, events = evaluate(rule, RuleState(), [(at(0), {"lel": 30}), (at(30), {"lel": 30})])
    assert kinds(events) == ["raise@0", "repeat@30"]
    state, events = evaluate(rule, state, [(at(120), {"lel": 30}), (at(125), {"lel": 1})])  # 12:00, 12:05
    assert kinds(events) == ["clear@125"]
    _, events = evaluate(rule, RuleState(), [(at(120), {"lel": 30})])
    assert events == []


@pytest.mark.parametrize(
    ("condition", "interval_s", "silent_min", "raises"),
    [
        ({"kind": "no_data", "intervals": 3}, 60, 2.9, False),
        ({"kind": "no_data", "intervals": 3}, 60, 3.0, True),
        ({"kind": "no_data", "minutes": 30}, 60, 29, False),
        ({"kind": "no_data", "minutes": 30}, 60, 31, True),
    ],
)
def test_no_data_raises_after_the_silence_limit(
    condition: dict[str, Any], interval_s: int, silent_min: float, raises: bool
) -> None:
    rule = parse_rule("r", condition)
    state, events = evaluate_silence(rule, RuleState(), T0, at(silent_min), interval_s)
    assert bool(events) is raises and state.active is raises
    if raises:
        again, more = evaluate_silence(rule, state, T0, at(silent_min + 10), interval_s)
        assert more == [] and again.active  # raised once, not every sweep
        cleared, clear_events = evaluate(rule, again, [(at(silent_min + 11), {"anything": 1})])
        assert kinds(clear_events) == [f"clear@{int(silent_min + 11)}"] and not cleared.active


@pytest.mark.parametrize(
    ("condition", "clear", "schedule"),
    [
        ({"kind": "sometimes"}, None, None),
        ({"kind": "threshold", "metric": "x", "op": "~", "value": 1}, None, None),
        ({"kind": "threshold", "metric": "x", "op": ">"}, None, None),
        ({"kind": "for_minutes", "metric": "x", "op": ">", "value": 1}, None, None),
        ({"kind": "times_in_row", "metric": "x", "op": ">", "value": 1, "times": 0}, None, None),
        ({"kind": "no_data"}, None, None),
        ({"kind": "no_data", "minutes": 5, "intervals": 3}, None, None),
        ({"kind": "threshold", "metric": "x", "op": ">", "value": 1}, {"op": "<", "value": 0, "times": -1}, None),
        ({"kind": "threshold", "metric": "x", "op": ">", "value": 1}, None, {"weekdays": [0]}),
        ({"kind": "threshold", "metric": "x", "op": ">", "value": 1}, None, {"tz": "Mars/Olympus"}),
        ({"kind": "threshold", "metric": "x", "op": ">", "value": 1}, None, {"start": "25:00"}),
    ],
)
def test_bad_rules_are_refused(
    condition: dict[str, Any], clear: dict[str, Any] | None, schedule: dict[str, Any] | None
) -> None:
    with pytest.raises(RuleError):
        parse_rule("r", condition, clear, schedule)


def test_a_string_compared_with_a_number_never_holds() -> None:
    rule = parse_rule("r", {"kind": "threshold", "metric": "x", "op": ">", "value": 1})
    assert evaluate(rule, RuleState(), [(T0, {"x": "high"})])[1] == []


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (AlarmState.ACTIVE_UNACKNOWLEDGED, "acknowledge", AlarmState.ACTIVE_ACKNOWLEDGED),
        (AlarmState.ACTIVE_UNACKNOWLEDGED, "clear", AlarmState.CLEARED),
        (AlarmState.ACTIVE_ACKNOWLEDGED, "clear", AlarmState.CLEARED),
        (AlarmState.ACTIVE_ACKNOWLEDGED, "acknowledge", None),
        (AlarmState.CLEARED, "acknowledge", None),
        (AlarmState.CLEARED, "clear", None),
    ],
)
def test_alarm_lifecycle(state: AlarmState, action: Any, expected: AlarmState | None) -> None:
    if expected is None:
        with pytest.raises(InvalidTransition):
            next_alarm_state(state, action)
    else:
        assert next_alarm_state(state, action) is expected
