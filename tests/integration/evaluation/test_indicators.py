"""Every indicator of every view on the scripted history (``history.py``), against values worked out by
hand from the event rules in ``backend.evaluation.rules``.

The hand count, event by event (D1 = Monday 2026-11-23):

grids — GA (A B D F H): D1 cases 5, accepted 2 (A B), pool_in 2, pool_out 1 (A closed), closed 1, late;
        D2 rating 4 (A), pool_in 1 (A reopened); D3 B closed (late: its 立案 and 派遣 were late)
        GE (E, 即办): cases 1, accepted 1, pool in/out 1, closed 1 on time
        GG (G): cases 1, missed 1 (nothing similar), accepted 1, pool_in 1 — GI (I): cases 1, accepted 1, pool_in 1
        GY (C K): cases 2, accepted 2, pool_in 2, pool_out 2 (C closed, K merged after 立案), closed 1 (late:
        the sweep marked it overdue); D2 rating 2 (C)
环卫 XZ-HW — assigned: A, A's rework, B, C, I on D1 + A again on D2 = 6; pool_in 4 + 1; disposed 3 (A twice,
        C); disposed on time 1 (A's first); overdue 2 (A's rework finished late, C's overdue event — its late
        finish then counts no more); returned 1 (B); checked 3 (A fail, A pass, C closed); reworked 1;
        pool_out 3 (B returned, A, C closed); closed 2, none on time; rating 4 + 2
执法局 XZ-CGJ — assigned 1 (B); extended 1 (D2); D3 disposed 1 on time, checked 1, closed 1 (late), pool_out 1
街道 XZ-ZCJD — assigned 1 (G), pool_in 1
collector1 — reports 3 (B E F); decided 3, valid 2 (F merged); verified 1, late (I); checked 3, on time
        (A ×2 on D1, B on D3); missed 1 (G in 邾城's grid GG)
seat1 — accepted 5 (A C G I K), on time 4 (I late); judged 3 (A C closed; K merged), accurate 2; closed 2 (A C), late
lead1 — as 值班长: accepted 1 (B, late); judged 1 accurate (B closed D3); closed 1, late;
        as 派遣员: dispatched 1 (B → 执法局, late); judged 1 (B finished), not returned
dispatcher1 — dispatched 1 (B → 环卫), on time; judged 1, returned 1
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from backend.errors import ValidationFailed
from backend.evaluation import jobs, service
from backend.evaluation.rules import Granularity, Period, Post
from backend.evaluation.service import Row, Source, View, ViewResult
from backend.models import Grid
from tests.integration.evaluation.history import D1, D2, D3, GA, GE, GG, GI, GY, XINZHOU, YANGLUO, ZHUCHENG, History

WEEK = Period(D1, D3)


def row(result: ViewResult, subject: str, post: Post | None = None) -> Row:
    found = [r for r in result.rows if r.subject_id == subject and (post is None or r.post is post)]
    assert len(found) == 1, (subject, post, [(r.subject_id, r.post) for r in result.rows])
    return found[0]


def measures(r: Row, *keys: str) -> dict[str, float]:
    return {k: r.measures.get(k, 0.0) for k in keys}


def approx(expected: dict[str, Any]) -> Any:
    return {k: (None if v is None else pytest.approx(v, abs=1e-9)) for k, v in expected.items()}


async def area(db: Any, prefix: str) -> float:
    return float(await db.scalar(select(func.sum(Grid.area_km2)).where(Grid.code.startswith(prefix))))


async def test_regions_by_hand(db: Any, history: History) -> None:
    grids = await service.evaluate(db, View.grid, WEEK)
    expected_grids = {
        GA: {"cases": 5, "accepted": 2, "pool_in": 3, "pool_out": 2, "closed": 2, "closed_on_time": 0, "missed": 0},
        GE: {"cases": 1, "accepted": 1, "pool_in": 1, "pool_out": 1, "closed": 1, "closed_on_time": 1, "missed": 0},
        GG: {"cases": 1, "accepted": 1, "pool_in": 1, "pool_out": 0, "closed": 0, "closed_on_time": 0, "missed": 1},
        GI: {"cases": 1, "accepted": 1, "pool_in": 1, "pool_out": 0, "closed": 0, "closed_on_time": 0, "missed": 0},
        GY: {"cases": 2, "accepted": 2, "pool_in": 2, "pool_out": 2, "closed": 1, "closed_on_time": 0, "missed": 0},
    }
    for code, expected in expected_grids.items():
        assert measures(row(grids, code), *expected) == expected, code
    assert measures(row(grids, GA), "rating_sum", "rating_count") == {"rating_sum": 4, "rating_count": 1}
    assert sum(r.measures.get("cases", 0) for r in grids.rows) == 10, "no other grid has a case"

    district = row(await service.evaluate(db, View.district, WEEK), XINZHOU)
    assert district.name == "新洲区"
    assert district.indicators == approx(
        {
            "cases": 10, "cases_per_km2": 10 / await area(db, XINZHOU), "accepted": 7, "close_due": 8, "closed": 4,
            "close_rate": 4 / 8, "closed_on_time_rate": 1 / 4, "satisfaction": 3.0, "missed": 1,
        }
    )  # fmt: skip
    # 35 × 50 + 35 × 25 + 30 × (3 − 1) / 4 × 100, over 100
    assert district.composite == pytest.approx(41.25) and district.grade == "D"

    streets = await service.evaluate(db, View.street, WEEK)
    zhucheng, yangluo = row(streets, ZHUCHENG), row(streets, YANGLUO)
    assert zhucheng.indicators == approx(
        {
            "cases": 8, "cases_per_km2": 8 / await area(db, ZHUCHENG), "accepted": 5, "close_due": 6, "closed": 3,
            "close_rate": 0.5, "closed_on_time_rate": 1 / 3, "satisfaction": 4.0, "missed": 1,
        }
    )  # fmt: skip
    assert zhucheng.composite == pytest.approx(51.67, abs=0.005) and zhucheng.grade == "D"
    assert yangluo.indicators == approx(
        {
            "cases": 2, "cases_per_km2": 2 / await area(db, YANGLUO), "accepted": 2, "close_due": 2, "closed": 1,
            "close_rate": 0.5, "closed_on_time_rate": 0.0, "satisfaction": 2.0, "missed": 0,
        }
    )  # fmt: skip
    assert yangluo.composite == pytest.approx(25.0) and yangluo.grade == "E"
    assert (zhucheng.rank, yangluo.rank) == (1, 2)
    others = [r for r in streets.rows if r.subject_id not in {ZHUCHENG, YANGLUO}]
    assert others and all(r.composite is None and r.rank is None for r in others), "no case, no composite"

    communities = await service.evaluate(db, View.community, WEEK, within=ZHUCHENG)
    assert {r.parent_code for r in communities.rows} == {ZHUCHENG}
    first, second = row(communities, "420117001001"), row(communities, "420117001002")
    assert (first.indicators["close_rate"], first.indicators["closed_on_time_rate"]) == (0.6, pytest.approx(1 / 3))
    assert first.indicators["satisfaction"] == 4.0
    assert second.indicators["close_rate"] == 0.0 and second.indicators["closed_on_time_rate"] is None
    assert second.composite == 0.0 and second.grade == "E", "only 结案率 can be judged"


async def test_departments_by_hand(db: Any, history: History) -> None:
    result = await service.evaluate(db, View.department, WEEK)
    hw = row(result, history.departments["XZ-HW"])
    assert hw.name == "新洲区环境卫生管理处"
    assert hw.indicators == approx(
        {
            "assigned": 6, "disposed": 3, "disposed_on_time": 1, "overdue": 2, "dispose_on_time_rate": 1 / 3,
            "reworked": 1, "rework_rate": 1 / 3, "returned": 1, "extended": 0, "close_due": 5, "closed": 2,
            "close_rate": 2 / 5, "closed_on_time_rate": 0.0, "satisfaction": 3.0,
        }
    )  # fmt: skip
    # 30 × 33.3 + 20 × 40 + 20 × 0 + 15 × (100 − 33.3) + 15 × 50, over 100
    assert hw.composite == pytest.approx(35.5) and hw.grade == "E"

    cgj = row(result, history.departments["XZ-CGJ"])
    assert cgj.indicators == approx(
        {
            "assigned": 1, "disposed": 1, "disposed_on_time": 1, "overdue": 0, "dispose_on_time_rate": 1.0,
            "reworked": 0, "rework_rate": 0.0, "returned": 0, "extended": 1, "close_due": 1, "closed": 1,
            "close_rate": 1.0, "closed_on_time_rate": 0.0, "satisfaction": None,
        }
    )  # fmt: skip
    # no rating: 30 × 100 + 20 × 100 + 20 × 0 + 15 × 100, over the 85 points that can be judged
    assert cgj.composite == pytest.approx(76.47, abs=0.005) and cgj.grade == "B"

    zcjd = row(result, history.departments["XZ-ZCJD"])
    assert zcjd.indicators["assigned"] == 1 and zcjd.indicators["close_rate"] == 0.0
    assert zcjd.indicators["dispose_on_time_rate"] is None and zcjd.composite == 0.0
    jg = row(result, history.departments["XZ-JG"])
    assert jg.composite is None and jg.grade is None and jg.rank is None
    assert [r.subject_id for r in result.rows[:3]] == [cgj.subject_id, hw.subject_id, zcjd.subject_id]
    assert [r.rank for r in result.rows[:3]] == [1, 2, 3]
    assert history.departments["XZ-CMD"] not in {r.subject_id for r in result.rows}, (
        "the command centre disposes nothing"
    )

    worst = service.ten_worst(result)
    assert [r.subject_id for r in worst] == [zcjd.subject_id, hw.subject_id, cgj.subject_id]


async def test_staff_by_hand(db: Any, history: History) -> None:
    result = await service.evaluate(db, View.staff, WEEK)
    ids = history.staff

    collector = row(result, ids["collector1"], Post.collector)
    assert collector.indicators == approx(
        {
            "reports": 3, "reports_valid": 2, "valid_report_rate": 2 / 3, "verify_on_time_rate": 0.0,
            "check_on_time_rate": 1.0, "missed": 1, "missed_rate": 1 / 4,
        }
    )  # fmt: skip
    # DESIGN §5: 有效上报率×40% + (1−漏报率)×20% + 按时核实率×20% + 按时核查率×20%
    assert collector.composite == pytest.approx(0.4 * 200 / 3 + 0.2 * 75 + 0 + 0.2 * 100, abs=0.005)
    assert collector.grade == "C" and collector.name == "陈采集"

    seat = row(result, ids["seat1"], Post.seat)
    assert seat.indicators == approx(
        {"accepted": 5, "accept_on_time_rate": 0.8, "accept_accuracy": 2 / 3, "closed": 2, "closed_on_time_rate": 0.0}
    )
    assert seat.composite == pytest.approx(52.0) and seat.grade == "D"

    lead = row(result, ids["lead1"], Post.shift_lead)
    assert lead.indicators == approx(
        {"accepted": 1, "accept_on_time_rate": 0.0, "accept_accuracy": 1.0, "closed": 1, "closed_on_time_rate": 0.0}
    )
    assert lead.composite == pytest.approx(30.0) and lead.grade == "E"
    lead_dispatch = row(result, ids["lead1"], Post.dispatcher)
    assert lead_dispatch.indicators == approx({"dispatched": 1, "dispatch_on_time_rate": 0.0, "dispatch_accuracy": 1.0})
    assert lead_dispatch.composite == pytest.approx(50.0)

    dispatcher = row(result, ids["dispatcher1"], Post.dispatcher)
    assert dispatcher.indicators == approx({"dispatched": 1, "dispatch_on_time_rate": 1.0, "dispatch_accuracy": 0.0})
    assert dispatcher.composite == pytest.approx(50.0) and dispatcher.grade == "D"
    assert {(r.subject_id, r.post) for r in result.rows if r.post is Post.dispatcher} >= {
        (ids["lead1"], Post.dispatcher),
        (ids["dispatcher1"], Post.dispatcher),
    }
    assert ids["handler1"] not in {r.subject_id for r in result.rows}, "handlers are evaluated with their department"

    collectors_only = await service.evaluate(db, View.staff, WEEK, post=Post.collector)
    assert {r.post for r in collectors_only.rows} == {Post.collector}


async def test_periods_carry_the_open_cases_over(db: Any, history: History) -> None:
    """Day 2 starts with B, G and I still to be closed (GA, GG, GI) and 环卫 with I; day 3 with A back too."""
    tuesday = row(await service.evaluate(db, View.district, Period(D2, D2)), XINZHOU)
    assert tuesday.measures["pool_start"] == 3 and tuesday.indicators["close_due"] == 4
    assert tuesday.indicators["close_rate"] == 0.0 and tuesday.indicators["closed_on_time_rate"] is None
    assert tuesday.indicators["satisfaction"] == 3.0 and tuesday.indicators["cases"] == 0
    wednesday = row(await service.evaluate(db, View.district, Period(D3, D3)), XINZHOU)
    assert wednesday.indicators["close_due"] == 4 and wednesday.indicators["close_rate"] == 0.25

    departments = await service.evaluate(db, View.department, Period(D2, D2))
    hw = row(departments, history.departments["XZ-HW"])
    assert hw.measures["pool_start"] == 1 and hw.indicators["close_due"] == 2 and hw.indicators["close_rate"] == 0.0
    cgj = row(departments, history.departments["XZ-CGJ"])
    assert cgj.indicators["close_due"] == 1 and cgj.indicators["extended"] == 1
    cgj3 = row(await service.evaluate(db, View.department, Period(D3, D3)), history.departments["XZ-CGJ"])
    assert cgj3.indicators["close_rate"] == 1.0 and cgj3.indicators["dispose_on_time_rate"] == 1.0


async def test_trends_by_day(db: Any, history: History) -> None:
    hw = history.departments["XZ-HW"]
    close = await service.trend(db, View.department, hw, "close_rate", WEEK, Granularity.day)
    assert [(p.label, p.value) for p in close.points] == [("11-23", 0.5), ("11-24", 0.0), ("11-25", 0.0)]
    cases = await service.trend(db, View.district, None, "cases", WEEK, Granularity.day)
    assert [p.value for p in cases.points] == [10, 0, 0] and cases.subject_name == "全市"
    weekly = await service.trend(db, View.street, ZHUCHENG, "close_rate", WEEK, Granularity.week)
    assert [(p.label, p.value) for p in weekly.points] == [("2026-W48", 0.5)]
    composite = await service.trend(db, View.department, hw, "composite", WEEK, Granularity.month)
    assert [p.value for p in composite.points] == [pytest.approx(35.5)]
    collector = await service.trend(
        db, View.staff, history.staff["collector1"], "missed_rate", WEEK, Granularity.day, post=Post.collector
    )
    assert [p.value for p in collector.points] == [0.25, None, None]
    with pytest.raises(ValidationFailed):
        await service.trend(db, View.department, hw, "missed_rate", WEEK, Granularity.day)


async def test_rollup_gives_the_same_answers(db: Any, history: History) -> None:
    done = await jobs.rollup(db, WEEK)
    assert done.days == 3 and done.rows > 0
    for view in View:
        raw = await service.evaluate(db, view, WEEK, source=Source.raw)
        rolled = await service.evaluate(db, view, WEEK, source=Source.rollup)
        assert rolled.source == "rollup" and raw.source == "raw"
        assert [(r.subject_id, r.post, r.measures, r.indicators, r.composite, r.rank) for r in rolled.rows] == [
            (r.subject_id, r.post, r.measures, r.indicators, r.composite, r.rank) for r in raw.rows
        ], view


async def test_weights_are_configurable(db: Any, history: History) -> None:
    await service.set_weights(db, Post.department, {"close_rate": 1}, by=history.staff["admin"])
    hw = row(await service.evaluate(db, View.department, WEEK), history.departments["XZ-HW"])
    assert hw.composite == pytest.approx(40.0) and hw.grade == "D"
    with pytest.raises(ValidationFailed) as bad:
        await service.set_weights(db, Post.department, {"valid_report_rate": 10, "close_rate": -1}, by=None)
    assert len(bad.value.details["problems"]) == 2
    await service.reset_weights(db, Post.department)
    assert (await service.current_weights(db))[Post.department]["dispose_on_time_rate"] == 30
