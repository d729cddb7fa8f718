"""Stage clocks (时限计时): turning a category's time limit into wall-clock instants.

A stage's clock is started, paused (挂账), resumed and extended (延期). Each time, the instants at which
the stage turns yellow (80 % of its limit) and red (100 %) are computed once on the working calendar and
stored on the case, so the deadline sweep compares timestamps instead of walking calendars.
Pure: no database, no clock of its own (``now`` is always passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from backend.errors import ValidationFailed
from backend.worktime import DEFAULT_CALENDAR, Unit, WorkingCalendar

YELLOW_AT = 0.8
WORKING_UNITS = frozenset({Unit.WORKING_HOURS.value, Unit.WORKING_DAYS.value})
NATURAL_UNITS = frozenset({Unit.NATURAL_HOURS.value, Unit.NATURAL_DAYS.value})


def limit_seconds(amount: float, unit: str, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> float:
    """A limit in seconds of its own kind: working seconds for working units, real seconds otherwise."""
    if unit == Unit.WORKING_HOURS:
        return amount * 3600.0
    if unit == Unit.WORKING_DAYS:
        return amount * calendar.working_day_length.total_seconds()
    if unit == Unit.NATURAL_HOURS:
        return amount * 3600.0
    if unit == Unit.NATURAL_DAYS:
        return amount * 86400.0
    raise ValidationFailed(f"unknown time unit {unit!r}", code="invalid_unit")


def advance(start: datetime, seconds: float, unit: str, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> datetime:
    if unit in WORKING_UNITS:
        return calendar.add_working(start, seconds / 3600.0, Unit.WORKING_HOURS)
    return start + timedelta(seconds=seconds)


def elapsed(start: datetime, end: datetime, unit: str, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> float:
    if end <= start:
        return 0.0
    if unit in WORKING_UNITS:
        return calendar.working_elapsed(start, end).total_seconds()
    return (end - start).total_seconds()


@dataclass(frozen=True)
class StageClock:
    stage: str
    unit: str
    limit: float  # in ``unit``
    started_at: datetime
    consumed: float  # seconds of the limit's kind used before ``segment_started_at``
    segment_started_at: datetime | None  # None while paused
    yellow_at: datetime | None
    deadline: datetime | None

    def total_seconds(self, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> float:
        return limit_seconds(self.limit, self.unit, calendar)

    def used(self, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> float:
        running = 0.0
        if self.segment_started_at is not None:
            running = elapsed(self.segment_started_at, now, self.unit, calendar)
        return self.consumed + running

    def on_time(self, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> bool:
        return self.used(now, calendar) <= self.total_seconds(calendar)


def _instants(
    segment_start: datetime, consumed: float, total: float, unit: str, calendar: WorkingCalendar
) -> tuple[datetime, datetime]:
    yellow = advance(segment_start, max(YELLOW_AT * total - consumed, 0.0), unit, calendar)
    red = advance(segment_start, max(total - consumed, 0.0), unit, calendar)
    return yellow, red


def start(
    stage: str, amount: float, unit: str, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> StageClock:
    if amount <= 0:
        raise ValidationFailed("a time limit must be positive", code="invalid_time_limit")
    total = limit_seconds(amount, unit, calendar)
    yellow, red = _instants(now, 0.0, total, unit, calendar)
    return StageClock(stage, unit, amount, now, 0.0, now, yellow, red)


def pause(clock: StageClock, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> StageClock:
    if clock.segment_started_at is None:
        return clock
    return replace(clock, consumed=clock.used(now, calendar), segment_started_at=None, yellow_at=None, deadline=None)


def resume(clock: StageClock, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> StageClock:
    if clock.segment_started_at is not None:
        return clock
    yellow, red = _instants(now, clock.consumed, clock.total_seconds(calendar), clock.unit, calendar)
    return replace(clock, segment_started_at=now, yellow_at=yellow, deadline=red)


def extend(clock: StageClock, amount: float, unit: str, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> StageClock:
    """An approved extension (延期) adds to the limit; the amount must be of the limit's kind."""
    if amount <= 0:
        raise ValidationFailed("an extension must be positive", code="invalid_extension")
    same_kind = (unit in WORKING_UNITS) == (clock.unit in WORKING_UNITS)
    if not same_kind:
        raise ValidationFailed(
            "an extension must be in working time for a working-time limit and in natural time otherwise",
            code="invalid_extension",
        )
    extra_seconds = limit_seconds(amount, unit, calendar)
    new_limit = clock.limit + extra_seconds / limit_seconds(1.0, clock.unit, calendar)
    extended = replace(clock, limit=new_limit)
    if extended.segment_started_at is None:
        return extended
    yellow, red = _instants(
        extended.segment_started_at, extended.consumed, extended.total_seconds(calendar), extended.unit, calendar
    )
    return replace(extended, yellow_at=yellow, deadline=red)


def light_at(clock: StageClock, now: datetime) -> str:
    if clock.deadline is not None and now > clock.deadline:
        return "red"
    if clock.yellow_at is not None and now >= clock.yellow_at:
        return "yellow"
    return "green"
