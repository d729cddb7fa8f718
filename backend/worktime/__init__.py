"""Working calendar (工作日历) and working-time arithmetic for case time limits (时限)."""

from backend.worktime.rules import (
    DEFAULT_CALENDAR,
    DEFAULT_PERIODS,
    SHANGHAI,
    Unit,
    WorkingCalendar,
    add_working,
    is_working_time,
    next_working_moment,
    working_elapsed,
)

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
