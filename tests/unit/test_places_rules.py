"""Opening hours (weekly, overnight spans, special days) and the walking estimate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backend.places.rules import ALWAYS_OPEN, InvalidHours, OpeningHours, parse_span, walking
from backend.worktime import SHANGHAI


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) instant; 2026-11-16 is a Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


WEEKDAYS_6_22 = OpeningHours.from_json({"weekly": {d: ["06:00-22:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
NIGHTLY = OpeningHours.parse_text("daily 22:00-06:00")
FRIDAY_NIGHT = OpeningHours.from_json({"weekly": {"fri": ["22:00-06:00"]}})


@pytest.mark.parametrize(
    ("hours", "when", "open_"),
    [
        (WEEKDAYS_6_22, "2026-11-16T05:59", False),
        (WEEKDAYS_6_22, "2026-11-16T06:00", True),
        (WEEKDAYS_6_22, "2026-11-16T21:59", True),
        (WEEKDAYS_6_22, "2026-11-16T22:00", False),  # the end is exclusive
        (WEEKDAYS_6_22, "2026-11-21T10:00", False),  # Saturday: not in weekly
        # an overnight span, every day
        (NIGHTLY, "2026-11-16T23:00", True),
        (NIGHTLY, "2026-11-17T03:00", True),
        (NIGHTLY, "2026-11-17T05:59", True),
        (NIGHTLY, "2026-11-17T06:00", False),
        (NIGHTLY, "2026-11-17T12:00", False),
        (NIGHTLY, "2026-11-17T22:00", True),
        # an overnight span belongs to the day it opens
        (FRIDAY_NIGHT, "2026-11-20T23:00", True),  # Friday evening
        (FRIDAY_NIGHT, "2026-11-21T03:00", True),  # Saturday small hours: still Friday's span
        (FRIDAY_NIGHT, "2026-11-21T23:00", False),  # Saturday evening: no span opens on Saturday
        (FRIDAY_NIGHT, "2026-11-20T03:00", False),  # Friday small hours: Thursday had no span
        (ALWAYS_OPEN, "2026-11-16T03:33", True),
    ],
)
def test_weekly_and_overnight(hours: OpeningHours, when: str, open_: bool) -> None:
    assert hours.is_open(at(when)) is open_


def test_special_days_replace_the_weekly_spans_of_their_date() -> None:
    hours = OpeningHours.parse_text("daily 06:00-22:00", "2026-10-01 closed; 2026-10-02 08:00-12:00,14:00-18:00")
    assert not hours.is_open(at("2026-10-01T10:00"))  # 国庆: closed all day
    assert hours.is_open(at("2026-10-02T09:00"))
    assert not hours.is_open(at("2026-10-02T13:00"))  # the lunch break of the special day
    assert hours.is_open(at("2026-10-02T17:59"))
    assert not hours.is_open(at("2026-10-02T19:00"))  # not 22:00 that day
    assert hours.is_open(at("2026-10-03T19:00"))  # back to the weekly hours


def test_an_overnight_span_runs_into_a_special_day_and_special_days_can_be_overnight() -> None:
    hours = OpeningHours.parse_text("daily 22:00-06:00", "2026-10-01 closed; 2026-12-31 20:00-02:00")
    assert hours.is_open(at("2026-10-01T03:00"))  # September 30th's span, still running
    assert not hours.is_open(at("2026-10-01T23:00"))  # nothing opens on October 1st
    assert not hours.is_open(at("2026-10-02T03:00"))
    assert hours.is_open(at("2026-12-31T20:30"))  # earlier than the usual 22:00
    assert hours.is_open(at("2027-01-01T01:59"))
    assert not hours.is_open(at("2027-01-01T02:00"))  # the special span's end, not 06:00


def test_judged_in_shanghai_whatever_the_zone_of_the_instant() -> None:
    assert WEEKDAYS_6_22.is_open(datetime(2026, 11, 16, 13, 59, tzinfo=UTC))  # 21:59 in Shanghai
    assert not WEEKDAYS_6_22.is_open(datetime(2026, 11, 16, 14, 0, tzinfo=UTC))  # 22:00


def test_text_form_and_json_form_agree() -> None:
    hours = OpeningHours.parse_text("mon-fri 06:30-21:30; sat,sun 07:00-12:00,14:00-23:00", "2027-01-01 closed")
    stored = hours.to_json()
    assert stored["weekly"]["mon"] == ["06:30-21:30"]
    assert stored["weekly"]["sun"] == ["07:00-12:00", "14:00-23:00"]
    assert stored["special"] == {"2027-01-01": []}
    assert OpeningHours.from_json(stored) == hours
    assert hours.describe() == "周一至周五 06:30-21:30；周六、周日 07:00-12:00、14:00-23:00"
    assert OpeningHours.parse_text("24h").always_open
    assert OpeningHours.from_json(None).always_open
    assert OpeningHours.parse_text("daily 22:00-06:00").describe() == "每天 22:00-06:00"
    # a range that wraps the week
    assert OpeningHours.parse_text("sat-mon 08:00-09:00").to_json()["weekly"].keys() == {"sat", "sun", "mon"}


@pytest.mark.parametrize("text", ["25:00-26:00", "06:00-06:00", "6-22", "06:60-07:00", "24:30-01:00"])
def test_bad_spans_are_refused(text: str) -> None:
    with pytest.raises(InvalidHours):
        parse_span(text)


def test_bad_hours_are_refused() -> None:
    bad: dict[str, Any]
    for bad in (
        {"weekly": {"monday": ["06:00-22:00"]}},
        {"weekly": {"mon": "06:00-22:00"}},
        {"special": {"2026-13-01": []}},
        {"weekly": {}, "extra": 1},
    ):
        with pytest.raises(InvalidHours):
            OpeningHours.from_json(bad)
    with pytest.raises(InvalidHours):
        OpeningHours.parse_text("someday 06:00-22:00")


def test_midnight_end_means_until_midnight() -> None:
    span = parse_span("22:00-00:00")
    assert (span.start, span.end, span.overnight) == (22 * 60, 24 * 60, False)


@pytest.mark.parametrize(
    ("straight_m", "metres", "minutes"),
    [(0, 0, 0), (100, 130, 2), (615.4, 800, 10), (616, 801, 11), (1000, 1300, 17)],
)
def test_walking_estimate_is_detour_1_3_at_80_m_per_min(straight_m: float, metres: int, minutes: int) -> None:
    walk = walking(straight_m)
    assert (walk.metres, walk.minutes) == (metres, minutes)
