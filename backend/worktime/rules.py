"""Working-time arithmetic for case time limits (时限). Pure: no database, no clock, no I/O.

A time limit is set per category and stage in working hours or working days (DESIGN §2); this module
turns "4 working hours from now" into a deadline and measures how much working time a stage has used,
with suspensions (挂账) taken out.

Conventions:

- Office periods are half-open, ``[08:30, 12:00)``: 12:00 itself is lunch, 08:30 is working time. A
  deadline that falls exactly on a period's end is that end (17:30), never the next morning.
- All arithmetic is on the wall clock of the calendar's timezone (Asia/Shanghai has had no daylight
  saving since 1991, so wall time and elapsed time agree there).
- Durations are ``timedelta``; the hot paths walk the calendar one day at a time, never minute by minute.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "DEFAULT_CALENDAR",
    "DEFAULT_PERIODS",
    "SHANGHAI",
    "Unit",
    "WorkingCalendar",
    "add_working",
    "is_working_time",
    "next_working_moment",
    "working_elapsed",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(14, 0), time(17, 30)),
)

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


class Unit(enum.StrEnum):
    """The unit a time limit is expressed in (时限单位)."""

    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    NATURAL_HOURS = "natural_hours"
    NATURAL_DAYS = "natural_days"


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would silently be read as server-local time; a deadline off by 8 hours is worse
    # than an error at the call site.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _offset(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


@dataclass(frozen=True)
class WorkingCalendar:
    """工作日历 — which days are worked and which hours of them count towards a time limit.

    A day is a working day when ``extra_on`` names it, else not when ``extra_off`` names it, else
    whatever ``chinese_calendar`` says (Mon–Fri minus public holidays plus make-up days, 调休). For years
    the package has no data for it raises ``NotImplementedError``; we then fall back to plain Mon–Fri,
    so a deadline far in the future is still computable, just without that year's holidays.

    ``extra_off`` / ``extra_on`` carry a city's own rules (a local holiday, a worked weekend before a
    big event).
    """

    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    tz: ZoneInfo = SHANGHAI
    extra_off: frozenset[date] = frozenset()
    extra_on: frozenset[date] = frozenset()
    # Offsets from midnight of each office period, and their total: derived once so the hot loops do
    # timedelta arithmetic only.
    _spans: tuple[tuple[timedelta, timedelta], ...] = field(init=False, repr=False, compare=False)
    _per_day: timedelta = field(init=False, repr=False, compare=False)
    # Per-date answers: a deadline sweep asks about the same few hundred dates 100,000 times, and the
    # package lookup plus its NotImplementedError fallback is not free. Unbounded is fine: one entry
    # per calendar date ever asked about.
    _day_cache: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a working calendar needs at least one office period")
        spans: list[tuple[timedelta, timedelta]] = []
        for begin, end in self.periods:
            if begin.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office periods are wall-clock times; give them without tzinfo")
            if begin >= end:
                raise ValueError(f"office period {begin}–{end} is empty or reversed")
            if spans and _offset(begin) < spans[-1][1]:
                raise ValueError("office periods must be sorted and must not overlap")
            spans.append((_offset(begin), _offset(end)))
        clash = self.extra_off & self.extra_on
        if clash:
            raise ValueError(f"dates both forced off and forced on: {sorted(clash)}")
        # frozen=True forbids plain assignment; these are derived, not state.
        object.__setattr__(self, "_spans", tuple(spans))
        object.__setattr__(self, "_per_day", sum((e - b for b, e in spans), _ZERO))

    # -- days -------------------------------------------------------------------------------------

    @property
    def working_day_length(self) -> timedelta:
        """The office time of one working day (7 hours with the default periods)."""
        return self._per_day

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a date in the calendar's timezone) is a working day (工作日)."""
        cached = self._day_cache.get(day)
        if cached is None:
            cached = self._is_working_day_uncached(day)
            self._day_cache[day] = cached
        return cached

    def _is_working_day_uncached(self, day: date) -> bool:
        if day in self.extra_on:
            return True
        if day in self.extra_off:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    # -- moments ----------------------------------------------------------------------------------

    def _local(self, value: datetime, name: str) -> tuple[date, timedelta]:
        """Split an aware datetime into its local date and the wall-clock offset from midnight."""
        _require_aware(value, name)
        local = value.astimezone(self.tz)
        return local.date(), _offset(local.time())

    def _at(self, day: date, offset: timedelta) -> datetime:
        # Build the naive wall time first and attach the zone last, so zoneinfo picks the right UTC
        # offset for that date.
        return (datetime.combine(day, time()) + offset).replace(tzinfo=self.tz)

    def is_working_time(self, moment: datetime) -> bool:
        """Whether the clock is running at ``moment``: a working day and inside an office period."""
        day, tod = self._local(moment, "moment")
        if not self.is_working_day(day):
            return False
        return any(begin <= tod < end for begin, end in self._spans)

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the start of the next office period."""
        day, tod = self._local(moment, "moment")
        while True:
            if self.is_working_day(day):
                for begin, end in self._spans:
                    if tod < end:
                        return self._at(day, max(tod, begin))
            day += _ONE_DAY
            tod = _ZERO

    # -- arithmetic -------------------------------------------------------------------------------

    def add_working(self, start: datetime, amount: float, unit: Unit) -> datetime:
        """The moment ``amount`` of ``unit`` has elapsed from ``start`` (a deadline, 截止时间).

        Working hours count only inside office periods of working days; a start outside office time
        begins counting at the next office period (so ``amount == 0`` gives ``next_working_moment``).
        A working day is defined as the whole office time of one working day, i.e. ``n`` working days
        are ``n * working_day_length`` working hours: 3 working days from Thursday 10:00 end on the
        following Tuesday at 10:00, and a case accepted at 16:00 does not lose the rest of its first
        day. Natural units add real elapsed time. The result is in the calendar's timezone.
        """
        _require_aware(start, "start")
        if amount < 0:
            raise ValueError(f"amount must not be negative, got {amount}")
        unit = Unit(unit)
        if unit is Unit.NATURAL_HOURS or unit is Unit.NATURAL_DAYS:
            step = timedelta(hours=amount) if unit is Unit.NATURAL_HOURS else timedelta(days=amount)
            # Through UTC so the addition is elapsed time even in a zone with daylight saving.
            return (start.astimezone(UTC) + step).astimezone(self.tz)
        if unit is Unit.WORKING_DAYS:
            return self._add_office_time(start, self._per_day * amount)
        return self._add_office_time(start, timedelta(hours=amount))

    def _add_office_time(self, start: datetime, remaining: timedelta) -> datetime:
        day, tod = self._local(start, "start")
        spans, per_day = self._spans, self._per_day
        while True:
            if self.is_working_day(day):
                if tod == _ZERO and remaining > per_day:
                    # Whole day consumed: skip it without looking at its periods.
                    remaining -= per_day
                else:
                    for begin, end in spans:
                        if tod >= end:
                            continue
                        from_ = max(tod, begin)
                        available = end - from_
                        # `<=` makes a deadline that lands on a period's end that end (17:30), not
                        # the next period's start.
                        if remaining <= available:
                            return self._at(day, from_ + remaining)
                        remaining -= available
            day += _ONE_DAY
            tod = _ZERO

    def _office_time_before(self, tod: timedelta) -> timedelta:
        """Office time of a working day that lies before wall-clock offset ``tod``."""
        total = _ZERO
        for begin, end in self._spans:
            if tod <= begin:
                break
            total += min(tod, end) - begin
        return total

    def _office_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in ``[start, end)``, no pauses; zero when ``end <= start``."""
        if end <= start:
            return _ZERO
        day, tod = self._local(start, "start")
        last_day, last_tod = self._local(end, "end")
        if day == last_day:
            if not self.is_working_day(day):
                return _ZERO
            return self._office_time_before(last_tod) - self._office_time_before(tod)
        per_day = self._per_day
        total = _ZERO
        if self.is_working_day(day):
            total += per_day - self._office_time_before(tod)
        day += _ONE_DAY
        while day < last_day:
            if self.is_working_day(day):
                total += per_day
            day += _ONE_DAY
        if self.is_working_day(last_day):
            total += self._office_time_before(last_tod)
        return total

    def working_elapsed(
        self,
        start: datetime,
        end: datetime,
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> timedelta:
        """Working time from ``start`` to ``end`` with the ``pauses`` (挂账 suspensions) taken out.

        A pause whose end is ``None`` is still open and runs to ``end``. Pauses are clipped to
        ``[start, end]`` and merged first, so overlapping pauses are not subtracted twice.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return _ZERO
        total = self._office_time_between(start, end)
        for pause_start, pause_end in _merge_pauses(pauses, start, end):
            total -= self._office_time_between(pause_start, pause_end)
        return total


def _merge_pauses(
    pauses: Iterable[tuple[datetime, datetime | None]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Clip pauses to ``[start, end]`` and merge overlapping or touching ones, in time order."""
    clipped: list[tuple[datetime, datetime]] = []
    for pause_start, pause_end in pauses:
        _require_aware(pause_start, "pause start")
        if pause_end is None:
            pause_end = end
        else:
            _require_aware(pause_end, "pause end")
            if pause_end < pause_start:
                raise ValueError(f"pause ends ({pause_end}) before it starts ({pause_start})")
        lo, hi = max(pause_start, start), min(pause_end, end)
        if lo < hi:
            clipped.append((lo, hi))
    clipped.sort()
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in clipped:
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


DEFAULT_CALENDAR = WorkingCalendar()
"""Asia/Shanghai, 08:30–12:00 and 14:00–17:30, national holidays and 调休 from ``chinese_calendar``."""


def add_working(start: datetime, amount: float, unit: Unit, *, calendar: WorkingCalendar | None = None) -> datetime:
    """``WorkingCalendar.add_working`` on ``calendar`` (default: ``DEFAULT_CALENDAR``)."""
    return (calendar or DEFAULT_CALENDAR).add_working(start, amount, unit)


def working_elapsed(
    start: datetime,
    end: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
    *,
    calendar: WorkingCalendar | None = None,
) -> timedelta:
    """``WorkingCalendar.working_elapsed`` on ``calendar`` (default: ``DEFAULT_CALENDAR``)."""
    return (calendar or DEFAULT_CALENDAR).working_elapsed(start, end, pauses)


def is_working_time(moment: datetime, *, calendar: WorkingCalendar | None = None) -> bool:
    """``WorkingCalendar.is_working_time`` on ``calendar`` (default: ``DEFAULT_CALENDAR``)."""
    return (calendar or DEFAULT_CALENDAR).is_working_time(moment)


def next_working_moment(moment: datetime, *, calendar: WorkingCalendar | None = None) -> datetime:
    """``WorkingCalendar.next_working_moment`` on ``calendar`` (default: ``DEFAULT_CALENDAR``)."""
    return (calendar or DEFAULT_CALENDAR).next_working_moment(moment)
