"""GB/T 17217 odour limits by toilet class; the citizen's view of live state (stale never shown live);
the search filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.live import LiveMetric, LiveState
from backend.places.rules import OpeningHours
from backend.toilets.enums import ToiletLevel
from backend.toilets.rules import (
    ToiletFilters,
    ToiletInfo,
    is_open_now,
    live_status,
    matches_facilities,
    matches_live,
    odour,
)

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.mark.parametrize(
    ("level", "nh3", "ok"),
    [
        (1, 0.3, True),
        (1, 0.31, False),
        (2, 0.31, True),
        (2, 1.0, True),
        (2, 1.01, False),
        (3, 1.01, True),
        (3, 3.0, True),
        (3, 3.1, False),
    ],
)
def test_nh3_limit_by_class(level: int, nh3: float, ok: bool) -> None:
    verdict = odour(level, nh3, None)
    assert verdict.nh3_limit == {1: 0.3, 2: 1.0, 3: 3.0}[level]
    assert verdict.nh3_ok is ok
    assert verdict.h2s_ok is None
    assert verdict.ok is ok


@pytest.mark.parametrize("level", [1, 2, 3])
def test_h2s_limit_is_0_01_for_every_class(level: int) -> None:
    assert odour(level, None, 0.01).h2s_ok is True
    assert odour(level, None, 0.011).h2s_ok is False
    assert odour(level, None, 0.011).h2s_limit == 0.01
    both = odour(level, 0.1, 0.02)
    assert both.nh3_ok is True and both.h2s_ok is False and both.ok is False
    assert odour(level, None, None).ok is None


def metric(value: Any, age_s: float, interval_s: int = 60) -> LiveMetric:
    ts = NOW - timedelta(seconds=age_s)
    return LiveMetric(value, ts, "dev-1", interval_s, stale=age_s > 3 * interval_s)


def state(**metrics: LiveMetric) -> LiveState:
    newest = max(m.ts for m in metrics.values())
    return LiveState("toilet", "WC-1", dict(metrics), newest, all(m.stale for m in metrics.values()))


def test_fresh_values_are_shown_live() -> None:
    status = live_status(
        ToiletLevel.SECOND,
        state(
            free_stalls=metric(3, 30),
            people_in=metric(12, 30),
            nh3=metric(0.4, 30),
            h2s=metric(0.002, 30),
            temperature_c=metric(21.5, 30),
            humidity_pct=metric(55.0, 30),
            open=metric(True, 30),
            battery_pct=metric(80, 30),
        ),
    )
    assert status.live and status.reported
    assert status.stale_since is None and status.stale_metrics == ()
    assert status.free_stalls == 3
    assert status.people_per_hour == 12 * 60  # 12 people in a 60 s interval
    assert status.odour.nh3 == 0.4 and status.odour.nh3_ok is True
    assert status.temperature_c == 21.5 and status.humidity_pct == 55.0 and status.open is True
    assert status.updated_at == NOW - timedelta(seconds=30)


def test_stale_values_are_never_shown_live() -> None:
    # Older than three intervals of the device (60 s): stale.
    status = live_status(
        ToiletLevel.FIRST, state(free_stalls=metric(4, 200), nh3=metric(0.5, 181), open=metric(True, 500))
    )
    assert not status.live and status.reported
    assert status.free_stalls is None and status.open is None and status.odour.nh3 is None
    assert status.odour.ok is None
    assert status.stale_metrics == ("free_stalls", "nh3", "open")
    # since when: the newest reading (181 s old) went stale three intervals after it was taken
    assert status.stale_since == NOW - timedelta(seconds=181) + timedelta(seconds=180)


def test_a_stale_metric_next_to_fresh_ones_is_named_and_left_out() -> None:
    status = live_status(
        ToiletLevel.THIRD,
        state(free_stalls=metric(2, 10), nh3=metric(4.0, 1000, interval_s=300), h2s=metric(0.02, 100, interval_s=300)),
    )
    assert status.live and status.stale_since is None
    assert status.stale_metrics == ("nh3",)
    assert status.odour.nh3 is None and status.odour.h2s == 0.02 and status.odour.h2s_ok is False


def test_no_device_is_not_live_and_not_stale() -> None:
    status = live_status(ToiletLevel.SECOND, None)
    assert not status.live and not status.reported and status.stale_since is None


def toilet(**overrides: Any) -> ToiletInfo:
    base: dict[str, Any] = dict(
        id="t", code="WC", name="n", address="", lat=30.0, lng=114.0, level=ToiletLevel.SECOND,
        hours=OpeningHours.parse_text("daily 06:00-22:00"), hours_text="", free=True, fee_fen=0, male_stalls=2,
        female_stalls=3, accessible_stalls=0, third_toilet=False, baby_care=False, department_name=None,
    )  # fmt: skip
    return ToiletInfo(**{**base, **overrides})


def test_facility_filters() -> None:
    plain = toilet()
    full = toilet(accessible_stalls=1, third_toilet=True, baby_care=True, level=ToiletLevel.FIRST)
    assert matches_facilities(plain, ToiletFilters())
    for f in (
        ToiletFilters(accessible=True),
        ToiletFilters(third_toilet=True),
        ToiletFilters(baby_care=True),
        ToiletFilters(levels=frozenset({1})),
    ):
        assert not matches_facilities(plain, f)
        assert matches_facilities(full, f)


def test_open_now_by_hours_unless_a_fresh_device_says_otherwise() -> None:
    hours = OpeningHours.parse_text("daily 06:00-22:00")
    night = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert is_open_now(hours, None, NOW)
    assert not is_open_now(hours, None, night)
    closed_for_cleaning = live_status(2, state(open=metric(False, 10)))
    assert not is_open_now(hours, closed_for_cleaning, NOW)
    stale_closed = live_status(2, state(open=metric(False, 1000)))
    assert is_open_now(hours, stale_closed, NOW)  # a stale "closed" is ignored


def test_free_stall_filter_needs_a_fresh_count() -> None:
    wants = ToiletFilters(has_free_stall=True)
    assert matches_live(wants, live_status(2, state(free_stalls=metric(1, 10))), True)
    assert not matches_live(wants, live_status(2, state(free_stalls=metric(0, 10))), True)
    assert not matches_live(wants, live_status(2, state(free_stalls=metric(5, 1000))), True)
    assert not matches_live(wants, live_status(2, None), True)
    assert not matches_live(ToiletFilters(open_now=True), None, False)
