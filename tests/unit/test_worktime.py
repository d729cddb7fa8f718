"""Working-calendar arithmetic for time limits (时限).

Every expected value below was computed by hand from the default office periods (08:30–12:00,
14:00–17:30, i.e. 7 hours a day) and the State Council holiday schedules, which the
``chinese_calendar`` data agrees with (checked in ``test_package_matches_official_schedule``):

- 2025 National Day + Mid-Autumn: Oct 1–8 off; Sun Sep 28 and Sat Oct 11 worked.
- 2026 Spring Festival: Sun Feb 15 – Mon Feb 23 off; Sat Feb 14 and Sat Feb 28 worked.
- 2026 Mid-Autumn: Fri Sep 25 – Sun Sep 27 off. National Day: Oct 1–7 off; Sun Sep 20 and Sat Oct 10
  worked.

March 2025 is a plain month: Mon 3rd, Thu 6th, Fri 7th, Sat 8th, Mon 10th, Tue 11th.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.worktime import (
    DEFAULT_CALENDAR,
    SHANGHAI,
    Unit,
    WorkingCalendar,
    add_working,
    is_working_time,
    next_working_moment,
    working_elapsed,
)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("day", "is_workday"),
    [
        # 2025 National Day
        (date(2025, 9, 28), True),  # Sunday, make-up day
        (date(2025, 10, 1), False),
        (date(2025, 10, 8), False),  # the 8th day comes from Mid-Autumn falling on Oct 6
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday, make-up day
        # 2026 Spring Festival
        (date(2026, 2, 14), True),  # Saturday, make-up day
        (date(2026, 2, 15), False),
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday, make-up day
        # 2026 Mid-Autumn and National Day
        (date(2026, 9, 20), True),  # Sunday, make-up day
        (date(2026, 9, 25), False),  # Friday, Mid-Autumn
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday, make-up day
    ],
)
def test_package_matches_official_schedule(day: date, is_workday: bool) -> None:
    assert chinese_calendar.is_workday(day) is is_workday
    assert DEFAULT_CALENDAR.is_working_day(day) is is_workday


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # lunch break is skipped: 11:00–12:00 then 14:00–15:00
        (sh(2025, 3, 3, 11), 2, sh(2025, 3, 3, 15)),
        (sh(2025, 3, 3, 12, 30), 0.5, sh(2025, 3, 3, 14, 30)),
        # ending exactly on a period's end returns that end, not the next period's start
        (sh(2025, 3, 3, 11), 1, sh(2025, 3, 3, 12)),
        (sh(2025, 3, 3, 14), 3.5, sh(2025, 3, 3, 17, 30)),
        (sh(2025, 3, 3, 16, 30), 1, sh(2025, 3, 3, 17, 30)),
        (sh(2025, 3, 3, 8, 30), 7, sh(2025, 3, 3, 17, 30)),
        # a whole day counted from before its start still ends at its 17:30
        (sh(2025, 3, 7, 17, 30), 7, sh(2025, 3, 10, 17, 30)),
        # one minute more spills into the next morning
        (sh(2025, 3, 3, 16, 30), 1.5, sh(2025, 3, 4, 9)),
        # outside office time: counting starts at the next 08:30
        (sh(2025, 3, 3, 19), 1, sh(2025, 3, 4, 9, 30)),
        (sh(2025, 3, 4, 0), 1, sh(2025, 3, 4, 9, 30)),
        (sh(2025, 3, 4, 7), 1, sh(2025, 3, 4, 9, 30)),
        (sh(2025, 3, 8, 10), 1, sh(2025, 3, 10, 9, 30)),  # Saturday
        (sh(2025, 3, 9, 0), 1, sh(2025, 3, 10, 9, 30)),  # Sunday midnight
        # Friday afternoon over the weekend
        (sh(2025, 3, 7, 17), 1, sh(2025, 3, 10, 9)),
        # 40 h from Mon 08:30 = five full days (35 h) + 5 h: Mon 10th 08:30–12:00, 14:00–15:30
        (sh(2025, 3, 3, 8, 30), 40, sh(2025, 3, 10, 15, 30)),
        # zero is the moment counting would begin
        (sh(2025, 3, 3, 9), 0, sh(2025, 3, 3, 9)),
        (sh(2025, 3, 3, 12), 0, sh(2025, 3, 3, 14)),
        # 2025 National Day: Tue Sep 30 16:30 + 1 h to 17:30, Oct 1–8 off, then 1 h on Thu Oct 9
        (sh(2025, 9, 30, 16, 30), 2, sh(2025, 10, 9, 9, 30)),
        # Sat Sep 27 is off but Sun Sep 28 is worked
        (sh(2025, 9, 26, 17), 1, sh(2025, 9, 28, 9)),
        # Sat Oct 11 is worked
        (sh(2025, 10, 10, 17), 1, sh(2025, 10, 11, 9)),
        # 2026 Spring Festival: Sat Feb 14 worked, Feb 15–23 off, Sat Feb 28 worked
        (sh(2026, 2, 13, 17), 1, sh(2026, 2, 14, 9)),
        (sh(2026, 2, 14, 17), 1, sh(2026, 2, 24, 9)),
        (sh(2026, 2, 27, 17), 1, sh(2026, 2, 28, 9)),
        # 2026 Mid-Autumn and National Day
        (sh(2026, 9, 19, 10), 1, sh(2026, 9, 20, 9, 30)),  # Sat off, Sun 20th worked
        (sh(2026, 9, 24, 17), 1, sh(2026, 9, 28, 9)),  # Fri 25th – Sun 27th off
        (sh(2026, 9, 30, 17), 1, sh(2026, 10, 8, 9)),  # Oct 1–7 off
        (sh(2026, 10, 9, 17), 1, sh(2026, 10, 10, 9)),  # Sat 10th worked
        # the input zone does not matter: 02:00 UTC is 10:00 in Shanghai
        (datetime(2025, 3, 3, 2, tzinfo=UTC), 1, sh(2025, 3, 3, 11)),
    ],
)
def test_add_working_hours(start: datetime, hours: float, expected: datetime) -> None:
    result = add_working(start, hours, Unit.WORKING_HOURS)
    assert result == expected
    assert result.tzinfo is SHANGHAI


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # 3 days = 21 h: Thu 10:00–17:30 is 5.5 h, Fri 7, Mon 7, then 1.5 h on Tue → 10:00
        (sh(2025, 3, 6, 10), 3, sh(2025, 3, 11, 10)),
        (sh(2025, 3, 3, 8, 30), 1, sh(2025, 3, 3, 17, 30)),
        # half a day is 3.5 h, ending exactly at the lunch break
        (sh(2025, 3, 3, 8, 30), 0.5, sh(2025, 3, 3, 12)),
        # from Fri Feb 13 2026 10:00: 5.5 h Fri, 7 h on the worked Sat 14th, 1.5 h on Tue 24th
        (sh(2026, 2, 13, 10), 2, sh(2026, 2, 24, 10)),
    ],
)
def test_add_working_days(start: datetime, days: float, expected: datetime) -> None:
    assert add_working(start, days, Unit.WORKING_DAYS) == expected


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        (sh(2025, 3, 3, 23), 2, Unit.NATURAL_HOURS, sh(2025, 3, 4, 1)),
        (sh(2025, 3, 7, 17), 1, Unit.NATURAL_DAYS, sh(2025, 3, 8, 17)),
        (sh(2025, 9, 30, 10), 2, Unit.NATURAL_DAYS, sh(2025, 10, 2, 10)),  # holidays count
        (datetime(2025, 3, 3, 20, tzinfo=UTC), 1, Unit.NATURAL_HOURS, sh(2025, 3, 4, 5)),
    ],
)
def test_add_natural(start: datetime, amount: float, unit: Unit, expected: datetime) -> None:
    result = add_working(start, amount, unit)
    assert result == expected
    assert result.tzinfo is SHANGHAI


def test_unit_accepts_stored_string() -> None:
    # limits come back from the database as plain strings
    assert add_working(sh(2025, 3, 3, 11), 2, "working_hours") == sh(2025, 3, 3, 15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (sh(2025, 3, 3, 8, 29), False),
        (sh(2025, 3, 3, 8, 30), True),
        (datetime(2025, 3, 3, 11, 59, 59, tzinfo=SHANGHAI), True),
        (sh(2025, 3, 3, 12), False),
        (sh(2025, 3, 3, 14), True),
        (sh(2025, 3, 3, 17, 30), False),
        (sh(2025, 3, 8, 10), False),  # Saturday
        (sh(2025, 9, 28, 10), True),  # make-up Sunday
        (sh(2025, 10, 1, 10), False),  # National Day
        (datetime(2025, 3, 3, 2, tzinfo=UTC), True),  # 10:00 in Shanghai
    ],
)
def test_is_working_time(moment: datetime, working: bool) -> None:
    assert is_working_time(moment) is working


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (sh(2025, 3, 3, 9), sh(2025, 3, 3, 9)),
        (sh(2025, 3, 3, 12), sh(2025, 3, 3, 14)),
        (sh(2025, 3, 3, 17, 30), sh(2025, 3, 4, 8, 30)),
        (sh(2025, 3, 7, 18), sh(2025, 3, 10, 8, 30)),
        (sh(2025, 9, 30, 18), sh(2025, 10, 9, 8, 30)),
        (sh(2026, 2, 14, 18), sh(2026, 2, 24, 8, 30)),
    ],
)
def test_next_working_moment(moment: datetime, expected: datetime) -> None:
    assert next_working_moment(moment) == expected


@pytest.mark.parametrize(
    ("start", "end", "pauses", "expected"),
    [
        # Fri 16:00–17:30 (1.5 h) + Mon 08:30–10:00 (1.5 h)
        (sh(2025, 3, 7, 16), sh(2025, 3, 10, 10), [], 3 * H),
        # lunch does not count
        (sh(2025, 3, 3, 11), sh(2025, 3, 3, 15), [], 2 * H),
        (sh(2025, 3, 3, 12, 10), sh(2025, 3, 3, 13, 50), [], timedelta(0)),
        # both ends outside office time
        (sh(2025, 3, 2, 20), sh(2025, 3, 3, 20), [], 7 * H),
        # Tue Sep 30 2025 09:00–17:30 (6.5 h), holiday, Thu Oct 9 08:30–09:00 (0.5 h)
        (sh(2025, 9, 30, 9), sh(2025, 10, 9, 9), [], 7 * H),
        # Mon 09:00 → Wed 09:00 is 6.5 + 7 + 0.5 = 14 h; suspended all of Tuesday → 7 h
        (sh(2025, 3, 3, 9), sh(2025, 3, 5, 9), [(sh(2025, 3, 4), sh(2025, 3, 5))], 7 * H),
        # overlapping pauses 09–11 and 10–15 are one pause 09–15 (3 h + 1 h of office time): 7 − 4
        (
            sh(2025, 3, 3, 8, 30),
            sh(2025, 3, 3, 17, 30),
            [(sh(2025, 3, 3, 9), sh(2025, 3, 3, 11)), (sh(2025, 3, 3, 10), sh(2025, 3, 3, 15))],
            3 * H,
        ),
        # a pause inside another one subtracts nothing extra: 7 − (09–16 = 5 h)
        (
            sh(2025, 3, 3, 8, 30),
            sh(2025, 3, 3, 17, 30),
            [(sh(2025, 3, 3, 9), sh(2025, 3, 3, 16)), (sh(2025, 3, 3, 10), sh(2025, 3, 3, 11))],
            2 * H,
        ),
        # an open pause runs to the end: only 08:30–12:00 counts
        (sh(2025, 3, 3, 8, 30), sh(2025, 3, 3, 17, 30), [(sh(2025, 3, 3, 14), None)], 3.5 * H),
        # a pause that began before start is clipped: 7 − 1.5
        (sh(2025, 3, 3, 8, 30), sh(2025, 3, 3, 17, 30), [(sh(2025, 3, 2, 9), sh(2025, 3, 3, 10))], 5.5 * H),
        # end before or at start
        (sh(2025, 3, 3, 15), sh(2025, 3, 3, 11), [], timedelta(0)),
        (sh(2025, 3, 3, 15), sh(2025, 3, 3, 15), [], timedelta(0)),
        # mixed input zones: 01:00 UTC = 09:00 Shanghai
        (datetime(2025, 3, 3, 1, tzinfo=UTC), sh(2025, 3, 3, 11), [], 2 * H),
    ],
)
def test_working_elapsed(
    start: datetime,
    end: datetime,
    pauses: list[tuple[datetime, datetime | None]],
    expected: timedelta,
) -> None:
    assert working_elapsed(start, end, pauses) == expected


def test_pause_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        working_elapsed(sh(2025, 3, 3, 9), sh(2025, 3, 3, 17), [(sh(2025, 3, 3, 12), sh(2025, 3, 3, 10))])


NAIVE = datetime(2025, 3, 3, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_working(NAIVE, 1, Unit.WORKING_HOURS),
        lambda: add_working(NAIVE, 1, Unit.NATURAL_HOURS),
        lambda: working_elapsed(NAIVE, sh(2025, 3, 4)),
        lambda: working_elapsed(sh(2025, 3, 3), NAIVE),
        lambda: working_elapsed(sh(2025, 3, 3), sh(2025, 3, 4), [(NAIVE, None)]),
        lambda: is_working_time(NAIVE),
        lambda: next_working_moment(NAIVE),
    ],
)
def test_naive_datetime_is_rejected(call: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()  # type: ignore[operator]


def test_negative_amount_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working(sh(2025, 3, 3, 9), -1, Unit.WORKING_HOURS)


def test_city_overrides() -> None:
    # a city works Sat Mar 8 2025 and takes Mon Mar 10 off
    calendar = WorkingCalendar(extra_on=frozenset({date(2025, 3, 8)}), extra_off=frozenset({date(2025, 3, 10)}))
    assert add_working(sh(2025, 3, 7, 17), 1, Unit.WORKING_HOURS, calendar=calendar) == sh(2025, 3, 8, 9)
    assert add_working(sh(2025, 3, 8, 17), 1, Unit.WORKING_HOURS, calendar=calendar) == sh(2025, 3, 11, 9)
    # Fri 17:00–17:30 + Sat 08:30–09:00
    assert working_elapsed(sh(2025, 3, 7, 17), sh(2025, 3, 8, 9), calendar=calendar) == H
    # forcing on beats the package's holiday
    holiday_worked = WorkingCalendar(extra_on=frozenset({date(2025, 10, 1)}))
    assert holiday_worked.is_working_day(date(2025, 10, 1))


def test_custom_periods() -> None:
    calendar = WorkingCalendar(periods=((time(9), time(17)),))
    assert calendar.working_day_length == 8 * H
    # one working day from Mon 12:00 ends Tue 12:00 — no lunch break in this calendar
    assert calendar.add_working(sh(2025, 3, 3, 12), 1, Unit.WORKING_DAYS) == sh(2025, 3, 4, 12)


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((time(12), time(9)),),
        ((time(9), time(12)), (time(11), time(15))),
        ((time(14), time(17)), (time(9), time(12))),
    ],
)
def test_bad_periods_are_rejected(periods: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(periods=periods)


def test_date_both_forced_on_and_off_is_rejected() -> None:
    day = frozenset({date(2025, 3, 8)})
    with pytest.raises(ValueError, match="both"):
        WorkingCalendar(extra_on=day, extra_off=day)


def test_years_the_package_does_not_know_fall_back_to_weekdays() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2030, 1, 1))
    assert DEFAULT_CALENDAR.is_working_day(date(2030, 1, 1))  # a Tuesday; no holiday data
    assert not DEFAULT_CALENDAR.is_working_day(date(2030, 1, 5))  # a Saturday
    # Fri Jan 4 2030 17:00 + 1 h → Mon Jan 7 09:00
    assert add_working(sh(2030, 1, 4, 17), 1, Unit.WORKING_HOURS) == sh(2030, 1, 7, 9)


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2026, 12, 31, 23, 59),
        timezones=st.just(SHANGHAI),
    ),
    minutes=st.integers(min_value=0, max_value=200 * 60),
)
def test_elapsed_inverts_add(start: datetime, minutes: int) -> None:
    amount = timedelta(minutes=minutes)
    deadline = add_working(start, minutes / 60, Unit.WORKING_HOURS)
    assert working_elapsed(start, deadline) == amount
    assert deadline >= start
