"""A small scripted history over three working days, built through the one case service with fixed
clocks, for the hand-computed evaluation tests.

Office hours are 08:30–12:00 and 14:00–17:30; E0101 (暴露垃圾) allows 1 h to accept, 0.5 h to dispatch,
2 h to dispose and 4 h to check (working hours); E0106 (废弃车辆) 5 working days to dispose and has two
owners, so it waits for a dispatcher; E0511 (占道堆物) in 邾城 goes to the street office (XZ-ZCJD).

    A  citizen, GA   accept → auto-dispatch 环卫 → finish → 返工 → finish late → check_pass; rated 4;
                      reopened on day 2 (back to 环卫)
    B  collector, GA accept late (lead1) → dispatcher1 sends it to 环卫 → 回退 → lead1 sends it to 执法局 late
                      → 延期 approved → 挂账 / resumed → finish → check_pass on day 3
    C  citizen, GY   accept → 环卫 → the sweep marks it overdue (超期) → finish late → seat closes it; rated 2
    D  citizen, GA   rejected
    E  collector, GE 即办 (close_on_spot)
    F  collector, GA merged into A before 立案
    G  inspection, GG nothing similar: a 漏报 of 邾城's collector; accepted → street office
    H  inspection, GA similar to B (a collector's report): not missed; merged into B
    I  citizen, GI   核实 late (collector1) → accepted late → 环卫
    K  citizen, GY   accepted, then merged into C (an inaccurate 立案)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from backend.cases import service
from backend.cases.enums import CaseAction, CaseSource
from backend.cases.service import Actor, IntakeData
from backend.cases.sweep import sweep
from backend.models import Department, Grid, Staff
from backend.worktime import SHANGHAI

D1, D2, D3 = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)  # Monday to Wednesday
GA, GE, GI, GG = "420117001001001", "420117001001002", "420117001001003", "420117001002001"  # 邾城街道
GY = "420117002001001"  # 阳逻街道
ZHUCHENG, YANGLUO, XINZHOU = "420117001", "420117002", "420117"


def at(day: date, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class History:
    cases: dict[str, uuid.UUID]
    departments: dict[str, str]  # code → id
    staff: dict[str, str]  # username → id


async def _centre(db: Any, code: str) -> tuple[float, float]:
    grid = await db.get(Grid, code)
    assert grid is not None
    return (grid.min_lat + grid.max_lat) / 2, (grid.min_lng + grid.max_lng) / 2


async def build(db: Any, geocoder: Any) -> History:
    staff = {s.username: s for s in (await db.scalars(select(Staff))).all()}
    actors = {
        name: Actor.staff(s.id, s.roles, s.department_id, s.grid_codes)
        for name, s in staff.items()
        if name in {"seat1", "dispatcher1", "lead1", "collector1", "handler1", "officer1", "admin", "auditor1"}
    }
    depts = {d.code: d.id for d in (await db.scalars(select(Department))).all()}
    cases: dict[str, uuid.UUID] = {}

    async def report(name: str, grid: str, when: datetime, actor: Actor, source: CaseSource, category: str) -> None:
        lat, lng = await _centre(db, grid)
        answers = {"vehicle_type": "机动车"} if category == "E0106" else {}
        data = IntakeData(source=source, category_code=category, lat=lat, lng=lng, description=name, answers=answers)
        cases[name] = (await service.intake(db, geocoder, actor, data, now=when)).case.id

    seat, lead, disp, coll = actors["seat1"], actors["lead1"], actors["dispatcher1"], actors["collector1"]
    hand, off, admin, aud = actors["handler1"], actors["officer1"], actors["admin"], actors["auditor1"]
    cit = {n: Actor.citizen(f"citizen-{n.lower()}") for n in "ACDIK"}
    step = service.step

    # --- Monday (D1) -------------------------------------------------------------------------------
    await report("A", GA, at(D1, "09:00"), cit["A"], CaseSource.citizen, "E0101")
    await service.accept(db, seat, cases["A"], now=at(D1, "09:20"))
    await report("B", GA, at(D1, "09:30"), coll, CaseSource.collector, "E0106")
    await report("F", GA, at(D1, "09:35"), coll, CaseSource.collector, "E0101")
    await service.merge(db, seat, cases["F"], cases["A"], now=at(D1, "09:40"))
    await step(db, hand, cases["A"], CaseAction.take, now=at(D1, "09:50"))
    await report("C", GY, at(D1, "10:00"), cit["C"], CaseSource.citizen, "E0101")
    await report("H", GA, at(D1, "10:05"), aud, CaseSource.inspection, "E0106")
    await service.accept(db, seat, cases["C"], now=at(D1, "10:10"))
    await service.merge(db, seat, cases["H"], cases["B"], now=at(D1, "10:20"))
    await step(db, hand, cases["A"], CaseAction.finish, now=at(D1, "10:30"))
    await report("D", GA, at(D1, "10:30"), cit["D"], CaseSource.citizen, "E0101")
    await service.accept(db, lead, cases["B"], now=at(D1, "10:45"))  # 75 min into a 1 h limit: late
    await service.check(db, coll, cases["A"], passed=False, note="还有垃圾", now=at(D1, "11:00"))
    await service.dispatch(db, disp, cases["B"], depts["XZ-HW"], now=at(D1, "11:00"))
    await service.reject(db, seat, cases["D"], "重复上报", now=at(D1, "11:00"))
    await report("K", GY, at(D1, "11:00"), cit["K"], CaseSource.citizen, "E0101")
    await service.accept(db, seat, cases["K"], auto_dispatch=False, now=at(D1, "11:10"))
    await service.return_case(db, hand, cases["B"], "不属于环卫", now=at(D1, "11:30"))
    await service.merge(db, seat, cases["K"], cases["C"], now=at(D1, "11:30"))
    await report("E", GE, at(D1, "13:00"), coll, CaseSource.collector, "E0101")
    await step(db, coll, cases["E"], CaseAction.close_on_spot, now=at(D1, "13:10"))
    await report("G", GG, at(D1, "14:00"), aud, CaseSource.inspection, "E0511")
    await step(db, hand, cases["A"], CaseAction.take, now=at(D1, "14:10"))
    await service.accept(db, seat, cases["G"], now=at(D1, "14:20"))
    # 11:30–12:00 and 14:00–14:30 of a 30-minute dispatch limit: late.
    await service.dispatch(db, lead, cases["B"], depts["XZ-CGJ"], now=at(D1, "14:30"))
    await sweep(db, now=at(D1, "15:00"))  # C's dispose deadline was 14:10: overdue; A turns yellow
    await step(db, off, cases["B"], CaseAction.take, now=at(D1, "15:00"))
    await step(db, hand, cases["C"], CaseAction.take, now=at(D1, "15:10"))
    await report("I", GI, at(D1, "15:20"), cit["I"], CaseSource.citizen, "E0101")
    await step(db, seat, cases["I"], CaseAction.verify_request, now=at(D1, "15:25"))
    await step(db, hand, cases["C"], CaseAction.finish, now=at(D1, "15:30"))
    await step(db, hand, cases["A"], CaseAction.finish, now=at(D1, "16:00"))  # rework due 15:00: late
    await step(db, seat, cases["C"], CaseAction.close, now=at(D1, "16:00"))
    await service.check(db, coll, cases["A"], passed=True, now=at(D1, "16:30"))
    await step(db, coll, cases["I"], CaseAction.verify_done, now=at(D1, "16:30"))  # 70 min of 60: late
    await service.accept(db, seat, cases["I"], now=at(D1, "16:40"))

    # --- Tuesday (D2) ------------------------------------------------------------------------------
    await service.request_extension(db, off, cases["B"], 2, "working_days", "车主联系不上", now=at(D2, "09:00"))
    await service.rate(db, cit["C"], cases["C"], 2, now=at(D2, "09:00"))
    await service.decide_extension(db, admin, cases["B"], True, now=at(D2, "09:30"))
    await service.rate(db, cit["A"], cases["A"], 4, now=at(D2, "10:00"))
    await service.suspend(db, admin, cases["B"], "等待车主", now=at(D2, "10:00"))
    await service.reopen(db, seat, cases["A"], "市民反映垃圾又堆起来了", now=at(D2, "11:00"))

    # --- Wednesday (D3) ----------------------------------------------------------------------------
    await service.resume(db, admin, cases["B"], now=at(D3, "10:00"))
    await step(db, off, cases["B"], CaseAction.finish, now=at(D3, "11:00"))
    await service.check(db, coll, cases["B"], passed=True, now=at(D3, "14:00"))

    return History(
        cases=cases,
        departments={code: str(i) for code, i in depts.items()},
        staff={name: str(s.id) for name, s in staff.items()},
    )
