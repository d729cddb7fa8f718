"""Alarm rules (告警规则) and the alarm lifecycle — pure functions, no I/O.

A rule has a *condition* that raises an alarm, a *clear condition* that ends it, a severity and an
optional *schedule* (weekdays and hours in a time zone when the rule may raise). Conditions:

- ``threshold``      one reading meets the predicate (``{"metric", "op", "value"}``);
- ``for_minutes``    the predicate holds in every reading for at least N minutes (by reading time);
- ``times_in_row``   N consecutive readings meet the predicate;
- ``no_data``        nothing received for N minutes, or N reporting intervals of the device (checked
                     by the periodic offline sweep, ``evaluate_silence``); any reading clears it.

A predicate's value may depend on the device (``by_attr`` + ``values``: e.g. the NH₃ limit of a
toilet by its class 一/二/三类, GB/T 17217), with ``value`` as the fallback. The clear condition
defaults to "the predicate no longer holds" once; it may be its own predicate (hysteresis: raise
above 20 %LEL, clear below 10) that must hold ``times`` readings in a row. Outside the schedule a
rule does not raise, but an active alarm may still clear.

JSON forms, as stored in ``alarm_rules``::

    condition: {"kind": "for_minutes", "metric": "fill_pct", "op": ">=", "value": 95, "minutes": 30}
    clear:     {"metric": "fill_pct", "op": "<", "value": 50, "times": 1}        (optional)
    schedule:  {"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00", "tz": "Asia/Shanghai"}

Rule progress (``RuleState``) is kept per device and rule across batches and restarts. Readings
are evaluated in time order; one not newer than the last evaluated is stored but not evaluated
(a rule's clock never runs backwards).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from backend.devices.enums import AlarmState, ConditionKind
from backend.errors import InvalidTransition

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
NEGATION = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "=="}


class RuleError(ValueError):
    """A rule whose JSON cannot be understood (raised when a rule is saved or loaded)."""


@dataclass(frozen=True)
class Predicate:
    """``metric op value``; the value may come from a device attribute (``by_attr`` → ``values``)."""

    metric: str
    op: str
    value: Any = None
    by_attr: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def threshold(self, attrs: Mapping[str, Any]) -> Any:
        if self.by_attr is not None:
            key = attrs.get(self.by_attr)
            if key is not None and str(key) in self.values:
                return self.values[str(key)]
        return self.value

    def holds(self, value: Any, threshold: Any) -> bool:
        if value is None or threshold is None:
            return False
        try:
            return bool(OPERATORS[self.op](value, threshold))
        except TypeError:  # a string compared with a number: never true
            return False

    def negated(self) -> Predicate:
        return Predicate(self.metric, NEGATION[self.op], self.value, self.by_attr, self.values)


@dataclass(frozen=True)
class Schedule:
    """When a rule may raise: ISO weekdays (1 = Monday) and a daily window; end ≤ start spans midnight."""

    weekdays: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo

    def covers(self, ts: datetime) -> bool:
        local = ts.astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.isoweekday() in self.weekdays and self.start <= t < self.end
        if t >= self.start:  # the evening part of an overnight window belongs to today
            return local.isoweekday() in self.weekdays
        if t < self.end:  # the early-morning part belongs to the day before
            return ((local.isoweekday() - 2) % 7 + 1) in self.weekdays
        return False


@dataclass(frozen=True)
class Rule:
    id: str
    kind: ConditionKind
    trigger: Predicate | None
    clear: Predicate | None
    clear_times: int = 1
    minutes: float | None = None
    times: int | None = None
    intervals: float | None = None
    schedule: Schedule | None = None

    @property
    def metric(self) -> str | None:
        return self.trigger.metric if self.trigger else None


class RuleState(msgspec.Struct, omit_defaults=True):
    """A rule's progress on one device: active (an alarm is up), since when the predicate has held,
    how many readings in a row met it (or the clear condition), and the newest reading evaluated."""

    active: bool = False
    since: datetime | None = None
    streak: int = 0
    clear_streak: int = 0
    last_ts: datetime | None = None


@dataclass(frozen=True)
class AlarmEvent:
    kind: Literal["raise", "repeat", "clear"]
    at: datetime
    value: Any = None


# --- parsing ----------------------------------------------------------------------------------------


def _predicate(spec: Mapping[str, Any], default_metric: str | None = None) -> Predicate:
    metric = spec.get("metric", default_metric)
    op = spec.get("op")
    if not isinstance(metric, str) or not metric:
        raise RuleError("a predicate needs a metric")
    if op not in OPERATORS:
        raise RuleError(f"op must be one of {sorted(OPERATORS)}, got {op!r}")
    by_attr = spec.get("by_attr")
    values = spec.get("values") or {}
    if by_attr is not None and (not isinstance(by_attr, str) or not isinstance(values, Mapping) or not values):
        raise RuleError("by_attr needs an attribute name and a values object")
    if spec.get("value") is None and by_attr is None:
        raise RuleError("a predicate needs a value (or by_attr + values)")
    return Predicate(metric, op, spec.get("value"), by_attr, {str(k): v for k, v in values.items()})


def _positive(spec: Mapping[str, Any], key: str) -> float:
    value = spec.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise RuleError(f"{key} must be a positive number")
    return float(value)


def _clock(text: Any) -> time:
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise RuleError(f"schedule times are HH:MM, got {text!r}") from None


def parse_schedule(spec: Mapping[str, Any] | None) -> Schedule | None:
    if not spec:
        return None
    weekdays = spec.get("weekdays", [1, 2, 3, 4, 5, 6, 7])
    if not weekdays or not all(isinstance(d, int) and 1 <= d <= 7 for d in weekdays):
        raise RuleError("schedule weekdays are 1 (Monday) … 7 (Sunday)")
    try:
        tz = ZoneInfo(str(spec.get("tz", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"unknown time zone {spec.get('tz')!r}") from None
    start, end = _clock(spec.get("start", "00:00")), _clock(spec.get("end", "00:00"))
    return Schedule(frozenset(weekdays), start, end, tz)


def parse_rule(
    rule_id: str,
    condition: Mapping[str, Any],
    clear: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
) -> Rule:
    """A rule from its stored JSON; raises ``RuleError`` saying what is wrong."""
    try:
        kind = ConditionKind(str(condition.get("kind")))
    except ValueError:
        raise RuleError(f"condition kind must be one of {[k.value for k in ConditionKind]}") from None
    sched = parse_schedule(schedule)
    if kind is ConditionKind.NO_DATA:
        if ("minutes" in condition) == ("intervals" in condition):
            raise RuleError("a no_data condition has minutes or intervals (one of them)")
        if "minutes" in condition:
            return Rule(rule_id, kind, None, None, minutes=_positive(condition, "minutes"), schedule=sched)
        return Rule(rule_id, kind, None, None, intervals=_positive(condition, "intervals"), schedule=sched)
    trigger = _predicate(condition)
    minutes = _positive(condition, "minutes") if kind is ConditionKind.FOR_MINUTES else None
    times = int(_positive(condition, "times")) if kind is ConditionKind.TIMES_IN_ROW else None
    clear_predicate = _predicate(clear, trigger.metric) if clear and ("op" in clear) else None
    clear_times = int(_positive(clear, "times")) if clear and "times" in clear else 1
    return Rule(
        rule_id,
        kind,
        trigger,
        clear_predicate,
        clear_times=clear_times,
        minutes=minutes,
        times=times,
        schedule=sched,
    )


# --- evaluation -------------------------------------------------------------------------------------


def evaluate(
    rule: Rule,
    state: RuleState,
    readings: Iterable[tuple[datetime, Mapping[str, Any]]],
    attrs: Mapping[str, Any] | None = None,
) -> tuple[RuleState, list[AlarmEvent]]:
    """Run ``readings`` (time-ordered ``(ts, metrics)``) through ``rule``: the new state and what
    happened — ``raise`` (the condition is met), ``repeat`` (met again while the alarm is up) and
    ``clear`` (the clear condition is met)."""
    attrs = attrs or {}
    s = msgspec.structs.replace(state)
    events: list[AlarmEvent] = []
    if rule.kind is ConditionKind.NO_DATA:
        for ts, _ in readings:
            if s.last_ts is not None and ts <= s.last_ts:
                continue
            s.last_ts = ts
            if s.active:
                events.append(AlarmEvent("clear", ts, None))
                s = RuleState(last_ts=ts)
        return s, events

    assert rule.trigger is not None
    trigger = rule.trigger
    clear = rule.clear or trigger.negated()
    threshold = trigger.threshold(attrs)
    clear_threshold = clear.threshold(attrs)
    metric = trigger.metric
    for ts, metrics in readings:
        if s.last_ts is not None and ts <= s.last_ts:
            continue
        value = metrics.get(metric)
        if value is None:
            continue
        s.last_ts = ts
        hit = trigger.holds(value, threshold) and (rule.schedule is None or rule.schedule.covers(ts))
        if s.active:
            if hit:
                s.clear_streak = 0
                events.append(AlarmEvent("repeat", ts, value))
            elif clear.holds(value, clear_threshold):
                s.clear_streak += 1
                if s.clear_streak >= rule.clear_times:
                    events.append(AlarmEvent("clear", ts, value))
                    s = RuleState(last_ts=ts)
            else:
                s.clear_streak = 0
            continue
        if not hit:
            s.streak, s.since = 0, None
            continue
        s.streak += 1
        if s.since is None:
            s.since = ts
        if (
            rule.kind is ConditionKind.THRESHOLD
            or (rule.kind is ConditionKind.TIMES_IN_ROW and s.streak >= (rule.times or 1))
            or (rule.kind is ConditionKind.FOR_MINUTES and ts - s.since >= timedelta(minutes=rule.minutes or 0))
        ):
            events.append(AlarmEvent("raise", ts, value))
            s.active, s.clear_streak = True, 0
    return s, events


def silence_limit(rule: Rule, interval_s: int) -> timedelta:
    """How long a device may stay silent before a ``no_data`` rule raises."""
    if rule.minutes is not None:
        return timedelta(minutes=rule.minutes)
    return timedelta(seconds=(rule.intervals or 1) * interval_s)


def evaluate_silence(
    rule: Rule, state: RuleState, last_seen: datetime, now: datetime, interval_s: int
) -> tuple[RuleState, list[AlarmEvent]]:
    """The periodic check of a ``no_data`` rule: raise once the device has been silent too long."""
    if rule.kind is not ConditionKind.NO_DATA or state.active:
        return state, []
    silent = now - last_seen
    if silent < silence_limit(rule, interval_s):
        return state, []
    if rule.schedule is not None and not rule.schedule.covers(now):
        return state, []
    new = msgspec.structs.replace(state, active=True, clear_streak=0)
    return new, [AlarmEvent("raise", now, round(silent.total_seconds()))]


# --- the alarm lifecycle -----------------------------------------------------------------------------

_TRANSITIONS: dict[tuple[str, AlarmState], AlarmState] = {
    ("acknowledge", AlarmState.ACTIVE_UNACKNOWLEDGED): AlarmState.ACTIVE_ACKNOWLEDGED,
    ("clear", AlarmState.ACTIVE_UNACKNOWLEDGED): AlarmState.CLEARED,
    ("clear", AlarmState.ACTIVE_ACKNOWLEDGED): AlarmState.CLEARED,
}


def next_alarm_state(state: AlarmState | str, action: Literal["acknowledge", "clear"]) -> AlarmState:
    """active-unacknowledged → (acknowledge) → active-acknowledged; either active state → (clear)
    → cleared. Anything else raises ``InvalidTransition``."""
    current = AlarmState(state)
    target = _TRANSITIONS.get((action, current))
    if target is None:
        raise InvalidTransition(
            f"an alarm that is {current.value} cannot be {action}d",
            code="alarm_invalid_transition",
            details={"state": current.value, "action": action},
        )
    return target
