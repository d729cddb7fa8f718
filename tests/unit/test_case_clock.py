"""Stage clocks on the working calendar: start, pause (挂账), resume, extend (延期), light."""

from __future__ import annotations

from datetime import datetime

import pytest

from backend.cases import clock
from backend.errors import ValidationFailed
from backend.worktime import SHANGHAI


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)  # 2026-11-20 is a Friday


@pytest.mark.parametrize(
    ("start", "amount", "unit", "yellow", "deadline"),
    [
        # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h on Monday from 08:30.
        (at(20, 16), 4, "working_hours", at(23, 10, 12), at(23, 11)),
        # Across lunch: Monday 11:00 + 2 working hours → 15:00; 80 % (1.6 h) → 14:36.
        (at(23, 11), 2, "working_hours", at(23, 14, 36), at(23, 15)),
        # One working day is the office time of a day (7 h): Monday 09:00 → Tuesday 09:00.
        (at(23, 9), 1, "working_days", at(23, 16, 36), at(24, 9)),
        # Natural hours ignore the calendar: Saturday 23:00 + 2 h → Sunday 01:00.
        (at(21, 23), 2, "natural_hours", at(22, 0, 36), at(22, 1)),
    ],
)
def test_start_computes_yellow_and_deadline(
    start: datetime, amount: float, unit: str, yellow: datetime, deadline: datetime
) -> None:
    c = clock.start("dispose", amount, unit, start)
    assert (c.yellow_at, c.deadline) == (yellow, deadline)


def test_one_working_day_yellow_is_at_80_percent_of_seven_hours() -> None:
    c = clock.start("dispose", 1, "working_days", at(23, 9))
    # 5.6 working hours from Monday 09:00: 09:00–12:00 (3 h), 14:00–16:36 (2.6 h).
    assert c.yellow_at == at(23, 16, 36)


def test_pause_and_resume_move_the_deadline_by_the_paused_working_time() -> None:
    c = clock.start("dispose", 4, "working_hours", at(20, 16))
    paused = clock.pause(c, at(23, 9))  # 1.5 h Friday + 0.5 h Monday used
    assert paused.consumed == pytest.approx(2 * 3600) and paused.deadline is None
    resumed = clock.resume(paused, at(25, 9))  # Wednesday 09:00, 2 h left
    assert resumed.deadline == at(25, 11)
    assert clock.pause(clock.pause(c, at(23, 9)), at(24, 9)) == paused, "pausing twice changes nothing"


def test_extension_adds_to_the_limit_in_the_same_kind_of_time() -> None:
    c = clock.start("dispose", 4, "working_hours", at(23, 9))
    extended = clock.extend(c, 1, "working_days")
    assert extended.limit == pytest.approx(11) and extended.deadline == at(24, 15)
    with pytest.raises(ValidationFailed):
        clock.extend(c, 2, "natural_hours")
    with pytest.raises(ValidationFailed):
        clock.extend(c, 0, "working_hours")


@pytest.mark.parametrize(
    ("now", "light"),
    [(at(23, 9), "green"), (at(23, 12), "green"), (at(23, 14, 12), "yellow"), (at(23, 14, 30), "yellow"),
     (at(23, 15), "yellow"), (at(23, 15, 1), "red")],
)  # fmt: skip
def test_light(now: datetime, light: str) -> None:
    c = clock.start("dispose", 4, "working_hours", at(23, 9))  # deadline 15:00, yellow at 3.2 h = 14:12
    assert clock.light_at(c, now) == light


def test_used_and_on_time() -> None:
    c = clock.start("accept", 1, "working_hours", at(23, 9))
    assert c.used(at(23, 9, 30)) == pytest.approx(1800)
    assert c.on_time(at(23, 10)) and not c.on_time(at(23, 10, 1))


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        clock.start("dispose", 0, "working_hours", at(23, 9))
    with pytest.raises(ValidationFailed):
        clock.start("dispose", 1, "fortnights", at(23, 9))
