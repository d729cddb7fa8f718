"""The pure evaluation rules: periods, indicator formulas, scores, grades, composites, rankings, which
events count — table-driven — and properties over random case histories (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import ValidationFailed
from backend.evaluation import rules
from backend.evaluation.rules import (
    DEFAULT_WEIGHTS,
    EVENT_MEASURES,
    INDICATORS,
    MEASURES,
    POST_INDICATORS,
    EventRow,
    Granularity,
    Period,
    Post,
    SubjectKind,
    Unit,
    case_facts,
    grade,
)
from backend.worktime import SHANGHAI
from tests.evaluation_strategies import START, CaseHistory, city_history

WED = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        (Granularity.day, WED, WED),
        (Granularity.week, date(2026, 11, 23), date(2026, 11, 29)),
        (Granularity.month, date(2026, 11, 1), date(2026, 11, 30)),
        (Granularity.quarter, date(2026, 10, 1), date(2026, 12, 31)),
        (Granularity.year, date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_period_of(granularity: Granularity, start: date, end: date) -> None:
    assert Period.of(granularity, WED) == Period(start, end)


def test_period_bounds_are_shanghai_days() -> None:
    t0, t1 = Period(WED, WED).bounds()
    assert t0 == datetime(2026, 11, 25, tzinfo=SHANGHAI) and t1 - t0 == timedelta(days=1)
    assert t0.astimezone().utcoffset() is not None and t0.isoformat().endswith("+08:00")
    assert rules.shanghai_day(datetime.fromisoformat("2026-11-24T16:30:00+00:00")) == WED


def test_period_limits() -> None:
    with pytest.raises(ValidationFailed):
        Period(WED, WED - timedelta(days=1))
    with pytest.raises(ValidationFailed) as long:
        Period.between(date(2020, 1, 1), date(2026, 1, 1))
    assert long.value.code == "period_too_long"
    assert Period.of(Granularity.month, date(2024, 2, 10)).days == 29
    assert Period.of(Granularity.month, date(2026, 12, 31)) == Period(date(2026, 12, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        (Granularity.month, [("2026-10", 10, 15, 31), ("2026-11", 11, 1, 30), ("2026-12", 12, 1, 3)]),
        (Granularity.quarter, [("2026Q4", 10, 15, 3)]),
    ],
)
def test_buckets_clip_to_the_period(granularity: Granularity, expected: list[tuple[str, int, int, int]]) -> None:
    period = Period(date(2026, 10, 15), date(2026, 12, 3))
    got = [
        (rules.bucket_label(b, granularity), b.start.month, b.start.day, b.end.day)
        for b in rules.buckets(period, granularity)
    ]
    assert got == expected


def test_week_buckets() -> None:
    parts = rules.buckets(Period(date(2026, 11, 25), date(2026, 12, 8)), Granularity.week)
    assert [(p.start.day, p.end.day) for p in parts] == [(25, 29), (30, 6), (7, 8)]
    assert [rules.bucket_label(p, Granularity.week) for p in parts] == ["2026-W48", "2026-W49", "2026-W50"]


@pytest.mark.parametrize(
    ("composite", "expected"),
    [
        (100, "A"),
        (90, "A"),
        (89.99, "B"),
        (75, "B"),
        (74.99, "C"),
        (60, "C"),
        (40, "D"),
        (39.99, "E"),
        (0, "E"),
        (None, None),
    ],
)
def test_grades(composite: float | None, expected: str | None) -> None:
    assert grade(composite) == expected


@pytest.mark.parametrize(
    ("key", "measures", "value", "score"),
    [
        ("close_rate", {"closed": 3, "pool_start": 2, "pool_in": 4}, 0.5, 50.0),
        ("close_rate", {"closed": 0}, None, None),
        ("rework_rate", {"reworked": 1, "checked": 4}, 0.25, 75.0),  # negative: scored inversely
        ("missed_rate", {"missed": 1, "reports": 3}, 0.25, 75.0),
        ("dispatch_accuracy", {"dispatch_returned": 1, "dispatch_judged": 4}, 0.75, 75.0),  # 1 − returned/judged
        ("dispose_on_time_rate", {"disposed_on_time": 3, "overdue": 1}, 0.75, 75.0),
        ("satisfaction", {"rating_sum": 9, "rating_count": 2}, 4.5, 87.5),  # 1–5 mapped to 0–100
        ("cases_per_km2", {"cases": 10, "area_km2": 4}, 2.5, None),  # a density is shown, not scored
        ("cases", {"cases": 7}, 7.0, None),
    ],
)
def test_indicator_values_and_scores(key: str, measures: dict[str, float], value: Any, score: Any) -> None:
    indicator = INDICATORS[key]
    assert indicator.value(measures) == value
    assert indicator.score(indicator.value(measures)) == score


def test_every_indicator_is_defined_once_from_known_measures() -> None:
    for indicator in INDICATORS.values():
        assert set(indicator.numerator) | set(indicator.denominator) <= set(MEASURES), indicator.key
        assert indicator.formula and indicator.label
        assert (indicator.polarity is rules.Polarity.negative) == (indicator.key in {"rework_rate", "missed_rate"})
    for post, keys in POST_INDICATORS.items():
        assert set(keys) <= set(INDICATORS), post
        assert rules.validate_weights(post, DEFAULT_WEIGHTS[post])
        assert sum(DEFAULT_WEIGHTS[post].values()) == 100
    assert DEFAULT_WEIGHTS[Post.collector] == {
        "valid_report_rate": 40, "missed_rate": 20, "verify_on_time_rate": 20, "check_on_time_rate": 20,
    }  # fmt: skip


def test_composite_leaves_out_what_cannot_be_judged() -> None:
    assert rules.composite({"a": 80.0, "b": None}, {"a": 40, "b": 60}) == 80.0
    assert rules.composite({"a": 80.0, "b": 40.0}, {"a": 1, "b": 3}) == 50.0
    assert rules.composite({"a": None}, {"a": 1}) is None
    card = rules.scorecard(Post.dispatcher, {"dispatched": 4, "dispatched_on_time": 3, "dispatch_judged": 2})
    assert card.indicators == {"dispatched": 4.0, "dispatch_on_time_rate": 0.75, "dispatch_accuracy": 1.0}
    assert card.composite == 87.5 and card.grade == "B"


@pytest.mark.parametrize(
    ("weights", "problems"),
    [
        ({"close_rate": 1}, 0),
        ({"close_rate": -1}, 1),
        ({"close_rate": float("nan")}, 1),
        ({"close_rate": 1e300}, 1),
        ({"cases": 5}, 1),  # a count is not scored
        ({"valid_report_rate": 5}, 1),  # another post's indicator
        ({"close_rate": 0}, 1),  # nothing above zero
    ],
)
def test_weights_validation(weights: dict[str, float], problems: int) -> None:
    if problems == 0:
        assert rules.validate_weights(Post.region, weights) == {"close_rate": 1.0}
        return
    with pytest.raises(ValidationFailed) as bad:
        rules.validate_weights(Post.region, weights)
    assert len(bad.value.details["problems"]) == problems


def test_rank_and_ten_worst() -> None:
    assert rules.rank([70.0, None, 90.0, 70.0, 10.0]) == [2, None, 1, 2, 4]
    assert rules.worst([70.0, None, 90.0, 70.0, 10.0], 3) == [4, 0, 3]


# --- which events count (table-driven) ---------------------------------------------------------------

T = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
HW, CGJ = "dept-hw", "dept-cgj"


def ev(seq: int, action: str, *, role: str = "system", actor: str | None = None, **kw: Any) -> EventRow:
    return EventRow(
        seq, action, T + timedelta(minutes=seq), kw.pop("from_state", None), "staff" if actor else "system", actor,
        role, kw.pop("on_time", None), kw.pop("stage", None), kw.pop("data", {}),
    )  # fmt: skip


def counted(events: list[EventRow], grid: str | None = "g1", **kw: Any) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in case_facts(grid, events, **kw):
        out[(f.kind.value, f.subject, f.measure)] += f.value
    return dict(out)


def test_a_returned_dispatch_counts_against_its_dispatcher_once() -> None:
    events = [
        ev(1, "report", role="collector", actor="c1", data={"source": "collector"}),
        ev(2, "accept", role="seat", actor="s1", on_time=True),
        ev(3, "dispatch", role="dispatcher", actor="p1", on_time=True, data={"department_id": HW}),
        ev(4, "return", role="handler", actor="h1", on_time=True, data={"department_id": HW}),
        ev(5, "dispatch", role="dispatcher", actor="p2", on_time=False, data={"department_id": CGJ}),
        ev(6, "finish", role="handler", actor="h2", on_time=True),
        ev(7, "check_fail", role="collector", actor="c1", on_time=True),
        ev(8, "overdue", stage="dispose"),
        ev(9, "finish", role="handler", actor="h2", on_time=False),  # judged late at the overdue event already
        ev(10, "check_pass", role="collector", actor="c2", on_time=True),
        ev(11, "rate", data={"score": 5}),
    ]
    facts = counted(events)
    assert facts[("staff", "p1", "dispatch_judged")] == 1 and facts[("staff", "p1", "dispatch_returned")] == 1
    assert facts[("staff", "p2", "dispatch_judged")] == 1 and ("staff", "p2", "dispatch_returned") not in facts
    assert facts[("department", HW, "returned")] == 1 and facts[("department", HW, "pool_out")] == 1
    assert facts[("department", CGJ, "disposed")] == 2 and facts[("department", CGJ, "disposed_on_time")] == 1
    assert facts[("department", CGJ, "overdue")] == 1, "the rework run went red once"
    assert facts[("department", CGJ, "reworked")] == 1 and facts[("department", CGJ, "checked")] == 2
    assert facts[("department", CGJ, "assigned")] == 2, "the dispatch and the rework"
    assert facts[("department", CGJ, "closed")] == 1 and ("department", CGJ, "closed_on_time") not in facts
    assert facts[("department", CGJ, "rating_sum")] == 5 and facts[("grid", "g1", "rating_count")] == 1
    assert facts[("staff", "c1", "reports_valid")] == 1 and facts[("staff", "c1", "checked")] == 1
    assert facts[("staff", "s1", "accept_accurate")] == 1 and facts[("staff", "s1", "closed")] == 1


def test_an_invalid_return_judges_the_accept_and_a_reopen_starts_a_new_cycle() -> None:
    events = [
        ev(1, "report", data={"source": "citizen"}),
        ev(2, "accept", role="seat", actor="s1", on_time=False),
        ev(3, "dispatch", data={"department_id": HW}),
        ev(4, "return", role="handler", actor="h1", data={"department_id": HW, "invalid": True}),
        ev(5, "dispatch", data={"department_id": HW}),
        ev(6, "finish", role="handler", actor="h1", on_time=True),
        ev(7, "close", role="seat", actor="s2", on_time=True),
        ev(8, "reopen", role="seat", actor="s2"),
        ev(9, "dispatch", data={"department_id": HW}),
        ev(10, "finish", role="handler", actor="h1", on_time=True),
        ev(11, "check_pass", role="collector", actor="c1", on_time=True),
    ]
    facts = counted(events)
    assert facts[("staff", "s1", "accept_judged")] == 1 and ("staff", "s1", "accept_accurate") not in facts
    assert facts[("grid", "g1", "closed")] == 2
    assert facts[("grid", "g1", "closed_on_time")] == 1, "the late 立案 spoils the first cycle only"
    assert facts[("grid", "g1", "pool_in")] == 2 and facts[("grid", "g1", "pool_out")] == 2
    assert facts[("department", HW, "pool_in")] == 3 and facts[("department", HW, "pool_out")] == 3
    assert facts[("staff", "s1", "closed")] == 2 and ("staff", "s2", "closed") not in facts


def test_missed_reports_and_collector_decisions() -> None:
    inspection = [ev(1, "report", role="auditor", actor="i1", data={"source": "inspection", "similar": ["x", "y"]})]
    assert counted(inspection, collector_reported=lambda c: c == "y") == {("grid", "g1", "cases"): 1}
    assert counted(inspection)[("grid", "g1", "missed")] == 1
    assert ("grid", "g1", "cases") not in counted(inspection, grid=None), "no grid, no region"
    merged = [
        ev(1, "report", role="collector", actor="c1", data={"source": "collector"}),
        ev(2, "merge", role="seat", actor="s1", from_state="reported"),
    ]
    assert counted(merged) == {
        ("grid", "g1", "cases"): 1, ("staff", "c1", "reports"): 1, ("staff", "c1", "reports_decided"): 1,
    }  # fmt: skip


def test_the_range_counts_only_its_own_events_with_all_earlier_context() -> None:
    events = [
        ev(1, "report", data={"source": "citizen"}),
        ev(2, "accept", role="seat", actor="s1", on_time=True),
        ev(3, "dispatch", role="dispatcher", actor="p1", data={"department_id": HW}),
        ev(4, "finish", role="handler", actor="h1", on_time=True),
    ]
    later = counted(events, since=T + timedelta(minutes=4))
    assert later == {
        ("department", HW, "disposed"): 1, ("department", HW, "disposed_on_time"): 1,
        ("staff", "p1", "dispatch_judged"): 1,
    }  # fmt: skip


# --- properties over random histories ------------------------------------------------------------------


def _day_totals(cases: list[CaseHistory]) -> dict[tuple[date, SubjectKind, str, str], int]:
    reported = {c.id for c in cases if c.reported_by_collector}
    facts = [f for c in cases for f in case_facts(c.grid, c.events, collector_reported=reported.__contains__)]
    return rules.sum_facts(facts)


def _period_measures(
    daily: dict[tuple[date, SubjectKind, str, str], int], kind: SubjectKind, period: Period
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (day, k, subject, measure), value in daily.items():
        if k is not kind or day > period.end:
            continue
        if day >= period.start:
            out[subject][measure] += value
        elif measure in rules.POOL_MEASURES:
            out[subject]["pool_start"] += value if measure == "pool_in" else -value
    return {s: dict(m) for s, m in out.items()}


def _region(grid: str, level: str) -> str:
    return grid[: {"community": 12, "street": 9, "district": 6}[level]]


def _check_bounds(post: Post, measures: dict[str, float]) -> None:
    for key, value in rules.indicators_of(post, measures).items():
        unit = INDICATORS[key].unit
        if value is None:
            continue
        if unit is Unit.rate:
            assert 0.0 <= value <= 1.0 + 1e-12, (post, key, value, measures)
        elif unit is Unit.rating:
            assert 1.0 <= value <= 5.0, (post, key, value)
        else:
            assert value >= 0, (post, key, value)
    card = rules.scorecard(post, measures)
    assert card.composite is None or 0.0 <= card.composite <= 100.0


periods = st.tuples(st.integers(0, 8), st.integers(0, 8)).map(
    lambda t: Period(START.date() + timedelta(days=min(t)), START.date() + timedelta(days=max(t)))
)


@settings(max_examples=300, deadline=None)
@given(cases=city_history(), period=periods)
def test_rates_stay_within_bounds_for_any_period(cases: list[CaseHistory], period: Period) -> None:
    daily = _day_totals(cases)
    grids = _period_measures(daily, SubjectKind.grid, period)
    departments = _period_measures(daily, SubjectKind.department, period)
    for measures in [*grids.values(), *departments.values()]:
        start = measures.get("pool_start", 0)
        assert start >= 0 and start + measures.get("pool_in", 0) - measures.get("pool_out", 0) >= 0, "no pool below 0"
    for measures in grids.values():
        _check_bounds(Post.region, {**measures, "area_km2": 1.0})
    for measures in departments.values():
        _check_bounds(Post.department, measures)
    missed = sum(m.get("missed", 0.0) for m in grids.values())
    for measures in _period_measures(daily, SubjectKind.staff, period).values():
        for post in (Post.collector, Post.seat, Post.shift_lead, Post.dispatcher):
            _check_bounds(post, {**measures, "missed": missed})


@settings(max_examples=300, deadline=None)
@given(cases=city_history(), period=periods)
def test_counts_add_up_across_levels(cases: list[CaseHistory], period: Period) -> None:
    grids = _period_measures(_day_totals(cases), SubjectKind.grid, period)
    levels = {
        level: rules.roll_up(grids, lambda g, level=level: _region(g, level))  # type: ignore[misc]
        for level in ("community", "street", "district")
    }
    for measure in EVENT_MEASURES[SubjectKind.grid] + ("pool_start",):
        at_grid = sum(m.get(measure, 0.0) for m in grids.values())
        for level, regions in levels.items():
            assert sum(m.get(measure, 0.0) for m in regions.values()) == at_grid, (measure, level)
    for street, measures in levels["street"].items():
        inside = [m for c, m in levels["community"].items() if c.startswith(street)]
        assert sum(m.get("cases", 0.0) for m in inside) == measures.get("cases", 0.0)
    cases_with_grid = {c.id for c in cases if c.grid is not None}
    reported = sum(
        1 for c in cases if c.id in cases_with_grid and period.start <= c.events[0].created_at.date() <= period.end
    )
    assert sum(m.get("cases", 0.0) for m in levels["district"].values()) == reported, "every case once, by its report"


@settings(max_examples=200, deadline=None)
@given(cases=city_history(), period=periods)
def test_the_daily_sum_equals_the_range_computed_at_once(cases: list[CaseHistory], period: Period) -> None:
    reported = {c.id for c in cases if c.reported_by_collector}
    t0, t1 = period.bounds()
    at_once = rules.sum_facts(
        f
        for c in cases
        for f in case_facts(c.grid, c.events, collector_reported=reported.__contains__, since=t0, until=t1)
    )
    daily = {k: v for k, v in _day_totals(cases).items() if period.start <= k[0] <= period.end}
    assert at_once == daily
