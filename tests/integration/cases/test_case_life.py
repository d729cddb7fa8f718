"""A whole case life through the one case service, on the real database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.cases import service
from backend.cases.enums import CaseAction, CaseSource
from backend.cases.service import Actor, IntakeData
from backend.catalog.service import minor_of
from backend.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from backend.models import CaseEvent, CaseReporter, DispatchRuleRow, OutboxMessage
from backend.worktime import Unit, add_working
from tests.integration.cases.conftest import MONDAY_9, department_id, grid_centre

ZHUCHENG_GRID = "420117001001001"  # a grid of 邾城街道, where collector1 works
YANGLUO_GRID = "420117002001001"


async def report(db: Any, geocoder: Any, category: str = "E0101", grid: str = ZHUCHENG_GRID, **kw: Any) -> Any:
    lat, lng = await grid_centre(db, grid)
    actor = kw.pop("actor", None) or Actor.citizen("citizen-alice")
    now = kw.pop("now", MONDAY_9)
    data = IntakeData(source=kw.pop("source", CaseSource.citizen), category_code=category, lat=lat, lng=lng,
                      description=kw.pop("description", "路边堆了很多垃圾"), **kw)  # fmt: skip
    return await service.intake(db, geocoder, actor, data, now=now)


async def test_whole_life_with_rework(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    result = await report(db, geocoder, "E0101")  # 暴露垃圾 → 环卫 by the district rule
    case = result.case
    assert case.number.startswith("20261123") and len(case.number) == 12
    assert (case.grid_code, case.street_code, case.district_code) == (ZHUCHENG_GRID, "420117001", "420117")
    assert case.state == "reported" and case.stage == "accept" and case.light == "green"
    assert case.deadline == MONDAY_9 + timedelta(hours=1)  # accept: 1 working hour

    t = MONDAY_9 + timedelta(minutes=20)
    await service.accept(db, actors["seat1"], case.id, now=t)
    hw = await department_id(db, "XZ-HW")
    assert case.state == "dispatched" and case.main_department_id == hw, "auto-dispatched to 环卫"
    assert case.stage == "dispose"

    handler = actors["handler1"]
    await service.step(db, handler, case.id, CaseAction.take, now=t + timedelta(minutes=30))
    await service.step(db, handler, case.id, CaseAction.finish, now=t + timedelta(hours=2), attachments=["p/1.jpg"])
    assert case.state == "disposed" and case.stage == "check"

    collector = actors["collector1"]
    await service.check(db, collector, case.id, passed=False, note="还有垃圾", now=t + timedelta(hours=3))
    assert case.state == "dispatched" and case.reworks == 1 and case.stage == "dispose"
    rework_started = t + timedelta(hours=3)
    assert case.stage_started_at == rework_started

    await service.step(db, handler, case.id, CaseAction.take, now=t + timedelta(hours=4))
    await service.step(db, handler, case.id, CaseAction.finish, now=t + timedelta(hours=5))
    await service.check(db, collector, case.id, passed=True, now=t + timedelta(hours=6))
    assert case.state == "closed" and case.stage is None and case.closed_at == t + timedelta(hours=6)

    events = await service.timeline(db, actors["seat1"], case.id)
    assert [e.action for e in events] == [
        "report", "accept", "dispatch", "take", "finish", "check_fail", "take", "finish", "check_pass",
    ]  # fmt: skip
    assert [e.seq for e in events] == list(range(1, 10))
    assert events[2].actor_kind == "system" and events[2].data["department_id"] == str(hw)
    assert events[1].on_time is True, "accepted 20 minutes into a 1-hour limit"
    outbox = (await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "case.event"))).all()
    assert {m.payload["event_id"] for m in outbox} >= {str(e.id) for e in events}


async def test_deadline_follows_the_working_calendar(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    friday_4pm = MONDAY_9 - timedelta(days=3) + timedelta(hours=7)  # Fri 2026-11-20 16:00
    case = (await report(db, geocoder, "E0101", now=friday_4pm)).case
    # 1 working hour from Friday 16:00: 16:00–17:00 — same day.
    assert case.deadline == friday_4pm + timedelta(hours=1)
    late = friday_4pm + timedelta(hours=1, minutes=15)  # 17:15, 15 min before close
    case2 = (await report(db, geocoder, "E0102", now=late)).case
    # 15 minutes on Friday, 45 on Monday morning from 08:30 → Monday 09:15.
    assert case2.deadline == MONDAY_9 + timedelta(minutes=15)


async def test_street_rule_beats_district_rule(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    zhucheng = (await report(db, geocoder, "E0502", grid=ZHUCHENG_GRID)).case  # 店外经营 in 邾城
    await service.accept(db, actors["seat1"], zhucheng.id, now=MONDAY_9)
    assert zhucheng.main_department_id == await department_id(db, "XZ-ZCJD")
    elsewhere = (await report(db, geocoder, "E0502", grid="420117005001001")).case  # 李集: district rule
    await service.accept(db, actors["seat1"], elsewhere.id, now=MONDAY_9)
    assert elsewhere.main_department_id == await department_id(db, "XZ-CGJ")


async def test_two_owners_go_to_the_dispatcher_with_ranked_candidates(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    # 废弃车辆: 交管 and 执法 both claim it
    case = (await report(db, geocoder, "E0106", answers={"vehicle_type": "机动车"})).case
    await service.accept(db, actors["seat1"], case.id, now=MONDAY_9)
    assert case.state == "accepted" and case.main_department_id is None
    ranked = [c["department_id"] for c in case.dispatch_candidates]
    top_two = {str(await department_id(db, "XZ-JG")), str(await department_id(db, "XZ-CGJ"))}
    assert set(ranked[:2]) == top_two, "the two exact-category owners rank first"
    assert str(await department_id(db, "XZ-HW")) in ranked[2:], "the broader E01* owner ranks below them"
    scores = [c["score"] for c in case.dispatch_candidates]
    assert scores == sorted(scores, reverse=True)
    jg = await department_id(db, "XZ-JG")
    with pytest.raises(Forbidden):
        await service.dispatch(db, actors["seat1"], case.id, jg, now=MONDAY_9)
    await service.dispatch(db, actors["dispatcher1"], case.id, jg, now=MONDAY_9)
    assert case.state == "dispatched" and case.main_department_id == jg


async def test_return_lowers_the_rule_and_override_is_recorded(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    case = (await report(db, geocoder, "E0101")).case
    await service.accept(db, actors["seat1"], case.id, now=MONDAY_9)
    rule = await db.get(DispatchRuleRow, case.dispatch_rule_id)
    before = rule.confidence
    with pytest.raises(ValidationFailed):
        await service.return_case(db, actors["handler1"], case.id, "  ", now=MONDAY_9)
    await service.return_case(db, actors["handler1"], case.id, "不属于我单位", now=MONDAY_9 + timedelta(minutes=5))
    assert case.state == "accepted" and case.returns == 1 and case.main_department_id is None
    await db.refresh(rule)
    assert rule.confidence == pytest.approx(before * 0.8) and rule.returns == 1
    cgj = await department_id(db, "XZ-CGJ")
    await service.dispatch(db, actors["dispatcher1"], case.id, cgj, now=MONDAY_9 + timedelta(minutes=10))
    last = (await service.timeline(db, actors["seat1"], case.id))[-1]
    assert last.action == "dispatch" and last.data["department_id"] == str(cgj)


async def test_handler_sees_only_their_departments_cases(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    case = (await report(db, geocoder, "E0101")).case
    with pytest.raises(NotFound):  # not dispatched to 环卫 yet: not theirs
        await service.get_case(db, actors["handler1"], case.id)
    await service.accept(db, actors["seat1"], case.id, now=MONDAY_9)
    assert (await service.get_case(db, actors["handler1"], case.id)).id == case.id
    with pytest.raises(NotFound):  # 执法's officer is another department
        await service.step(db, actors["officer1"], case.id, CaseAction.take, now=MONDAY_9)
    page = await service.list_cases(db, actors["officer1"], service.CaseFilter())
    assert case.id not in {c.id for c in page.items}
    with pytest.raises(NotFound):  # another citizen
        await service.get_case(db, Actor.citizen("citizen-bob"), case.id)
    assert (await service.get_case(db, Actor.citizen("citizen-alice"), case.id)).id == case.id


async def test_illegal_transition_and_wrong_role(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    case = (await report(db, geocoder)).case
    with pytest.raises(InvalidTransition):
        await service.step(db, actors["lead1"], case.id, CaseAction.close, now=MONDAY_9)
    with pytest.raises(Forbidden):  # the grid's collector sees the case but may not accept it
        await service.accept(db, actors["collector1"], case.id, now=MONDAY_9)
    with pytest.raises(NotFound):  # a handler does not even see a case not dispatched to them
        await service.accept(db, actors["handler1"], case.id, now=MONDAY_9)
    with pytest.raises(ValidationFailed):
        await service.reject(db, actors["seat1"], case.id, "", now=MONDAY_9)
    await service.reject(db, actors["seat1"], case.id, "重复上报，已有案卷处理中", now=MONDAY_9)
    assert case.state == "rejected" and case.stage is None


async def test_suspension_stops_the_clock_and_extension_moves_the_deadline(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    case = (await report(db, geocoder, "E0101")).case
    await service.accept(db, actors["seat1"], case.id, now=MONDAY_9)
    await service.step(db, actors["handler1"], case.id, CaseAction.take, now=MONDAY_9 + timedelta(minutes=30))
    first_deadline = case.deadline
    assert case.stage_started_at == MONDAY_9, "taking the case does not restart the dispose clock"
    assert first_deadline is not None
    await service.suspend(db, actors["lead1"], case.id, "等待产权单位确认", now=MONDAY_9 + timedelta(hours=1))
    assert case.state == "suspended" and case.deadline is None
    # Resumed two working days later: the deadline moves by exactly the suspended working time.
    resumed_at = MONDAY_9 + timedelta(days=2, hours=1)
    await service.resume(db, actors["lead1"], case.id, now=resumed_at)
    assert case.state == "disposing" and case.deadline is not None
    # Mon 10:00 → Wed 10:00 suspended = 2 working days of 7 h: the deadline moves by 14 working hours.
    assert case.deadline == add_working(first_deadline, 14, Unit.WORKING_HOURS)

    await service.request_extension(db, actors["handler1"], case.id, 1, "working_days", "需调派大型车辆",
                                    now=resumed_at)  # fmt: skip
    with pytest.raises(Conflict):
        await service.request_extension(db, actors["handler1"], case.id, 1, "working_days", "again", now=resumed_at)
    before = case.deadline
    await service.decide_extension(db, actors["lead1"], case.id, approve=True, now=resumed_at)
    assert case.deadline is not None and case.deadline > before and case.extensions == 1
    with pytest.raises(Conflict):
        await service.decide_extension(db, actors["lead1"], case.id, approve=False, now=resumed_at)


async def test_merge_moves_reporters_and_reopen_returns_to_the_department(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    first = (await report(db, geocoder, "E0101")).case
    second_result = await report(db, geocoder, "E0101", actor=Actor.citizen("citizen-bob"))
    assert first.id in {s.case_id for s in second_result.similar}, "the nearby open case is offered"
    second = second_result.case
    await service.merge(db, actors["seat1"], second.id, first.id, now=MONDAY_9)
    assert second.state == "merged" and second.merged_into_id == first.id
    followers = {r.reporter_id for r in await service.reporters_of(db, first.id)}
    assert followers == {"citizen-alice", "citizen-bob"}

    await service.accept(db, actors["seat1"], first.id, now=MONDAY_9)
    await service.step(db, actors["handler1"], first.id, CaseAction.take, now=MONDAY_9)
    await service.step(db, actors["handler1"], first.id, CaseAction.finish, now=MONDAY_9)
    await service.check(db, actors["collector1"], first.id, passed=True, now=MONDAY_9)
    await service.reopen(db, Actor.citizen("citizen-alice"), first.id, "垃圾又堆起来了", now=MONDAY_9)
    assert first.state == "dispatched" and first.reopens == 1
    assert first.main_department_id == await department_id(db, "XZ-HW")


async def test_merge_keeps_a_citizen_who_reported_both_cases_once(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    alice, bob = Actor.citizen("citizen-alice"), Actor.citizen("citizen-bob")
    first = (await report(db, geocoder, "E0101", actor=alice)).case
    second = (await report(db, geocoder, "E0101", actor=alice, description="垃圾还在")).case  # alice again
    assert (await service.follow(db, bob, second.id, now=MONDAY_9))[1] is True
    assert (await service.follow(db, bob, first.id, now=MONDAY_9))[1] is True  # bob is on both, too
    third = (await report(db, geocoder, "E0101", actor=Actor.citizen("citizen-carol"))).case

    await service.merge(db, actors["seat1"], second.id, first.id, now=MONDAY_9)
    await service.merge(db, actors["seat1"], third.id, first.id, now=MONDAY_9)
    rows = await service.reporters_of(db, first.id)
    assert sorted(r.reporter_id or "" for r in rows) == ["citizen-alice", "citizen-bob", "citizen-carol"]
    carol = next(r for r in rows if r.reporter_id == "citizen-carol")
    assert carol.original_case_id == third.id, "a merged reporter remembers the case they reported"
    assert (await service.follow(db, alice, first.id, now=MONDAY_9))[1] is False


async def test_collector_closes_on_the_spot(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    collector = actors["collector1"]
    case = (await report(db, geocoder, "E0201", actor=collector, source=CaseSource.collector)).case
    await service.step(db, collector, case.id, CaseAction.close_on_spot, note="已清除小广告", now=MONDAY_9)
    assert case.state == "closed" and case.reporter_kind == "staff"


async def test_similar_search_respects_category_radius_window_and_state(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    lat, lng = await grid_centre(db, ZHUCHENG_GRID)
    base = (await report(db, geocoder, "E0101")).case
    category = await service.get_category(db, "E0101")
    near = await service.find_similar(db, category, lat + 0.0002, lng, now=MONDAY_9)  # ~22 m away
    assert [s.case_id for s in near] == [base.id] and 15 < near[0].distance_m < 30
    assert await service.find_similar(db, category, lat + 0.001, lng, now=MONDAY_9) == []  # ~111 m: too far
    other = await service.get_category(db, "E0102")
    assert await service.find_similar(db, other, lat, lng, now=MONDAY_9) == []
    later = MONDAY_9 + timedelta(hours=category.similar_window_h + 1)
    assert await service.find_similar(db, category, lat, lng, now=later) == []
    await service.reject(db, actors["seat1"], base.id, "误报", now=MONDAY_9)
    assert await service.find_similar(db, category, lat, lng, now=MONDAY_9) == []


async def test_similar_search_uses_the_index(db: Any) -> None:
    from sqlalchemy import text

    await db.execute(text("SET LOCAL enable_seqscan = off"))
    category = await service.get_category(db, "E0101")
    args = service._similar_args(category, 30.84, 114.80, MONDAY_9, service.SIMILAR_LIMIT)
    driver = await service._driver(db)
    plan = "\n".join(r[0] for r in await driver.fetch("EXPLAIN " + service.SIMILAR_SQL, *args))
    assert "ix_cases_similar" in plan


async def test_intake_finds_its_neighbours_in_the_same_statement_and_records_them(
    db: Any, geocoder: Any, actors: dict[str, Actor]
) -> None:
    lat, lng = await grid_centre(db, ZHUCHENG_GRID)
    first = await report(db, geocoder, "E0101")
    assert first.similar == [], "a new case is never its own neighbour"
    second = await report(db, geocoder, "E0101", actor=Actor.citizen("citizen-bob"))
    data = IntakeData(source=CaseSource.citizen, category_code="E0101", lat=lat + 0.0002, lng=lng, description="又一堆")
    third = await service.intake(db, geocoder, Actor.citizen("citizen-carol"), data, now=MONDAY_9)
    # Nearest first: the two at the centre (0 m) before nothing else; ~22 m from the third report.
    assert [s.case_id for s in second.similar] == [first.case.id] and second.similar[0].distance_m == 0.0
    assert {s.case_id for s in third.similar} == {first.case.id, second.case.id}
    assert all(15 < s.distance_m < 30 for s in third.similar)
    category = await service.get_category(db, "E0101")
    found = await service.find_similar(db, category, lat + 0.0002, lng, now=MONDAY_9, exclude=third.case.id)
    assert [(s.case_id, s.distance_m) for s in found] == [(s.case_id, s.distance_m) for s in third.similar]
    recorded = {
        e.case_id: e.data["similar"]
        for e in await db.scalars(select(CaseEvent).where(CaseEvent.action == "report"))
        if e.case_id in {first.case.id, second.case.id, third.case.id}
    }
    assert recorded == {
        first.case.id: [],
        second.case.id: [str(first.case.id)],
        third.case.id: [str(s.case_id) for s in third.similar],
    }
    other = await report(db, geocoder, "E0102")
    assert other.similar == [], "another category is never similar"


async def test_intake_refuses_bad_input_and_writes_nothing(db: Any, geocoder: Any) -> None:
    before = await db.scalar(select(CaseReporter.id).limit(1))
    with pytest.raises(ValidationFailed, match="category"):
        await report(db, geocoder, "E9999")
    with pytest.raises(ValidationFailed):
        await service.intake(db, geocoder, Actor.citizen("x"),
                             IntakeData(source=CaseSource.citizen, category_code="E0101", lat=200, lng=114.8),
                             now=MONDAY_9)  # fmt: skip
    with pytest.raises(ValidationFailed):  # device-only category
        await report(db, geocoder, "E0707")
    assert await db.scalar(select(CaseReporter.id).limit(1)) == before


async def test_gas_leak_answer_diverts_to_119_and_raises_urgency(db: Any, geocoder: Any) -> None:
    category = await service.get_category(db, "E0403")
    minor = minor_of(category)
    smell = next(q for q in minor.questions if q.divert is not None)
    result = await report(db, geocoder, "E0403", answers={smell.key: smell.divert.when})  # type: ignore[union-attr]
    assert result.divert is not None and result.divert["to"] in {"119", "110", "120"}
    assert result.case.urgency in {"urgent", "critical"}


async def test_event_rows_are_the_audit_trail(db: Any, geocoder: Any, actors: dict[str, Actor]) -> None:
    case = (await report(db, geocoder)).case
    await service.accept(db, actors["seat1"], case.id, note="符合立案条件", now=MONDAY_9)
    accept_event = await db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "accept"))
    assert accept_event is not None
    assert (accept_event.actor_kind, accept_event.actor_role, accept_event.from_state, accept_event.to_state) == (
        "staff", "seat", "reported", "accepted",
    )  # fmt: skip
    assert accept_event.actor_id == actors["seat1"].id and accept_event.note == "符合立案条件"
    assert isinstance(uuid.UUID(str(accept_event.id)), uuid.UUID)


@pytest.mark.parametrize("cursor", ["inf_00000000-0000-0000-0000-000000000000", "1e300_x", "nan_y", "garbage"])
async def test_a_bad_cursor_is_a_validation_error(db: Any, actors: dict[str, Actor], cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        await service.list_cases(db, actors["seat1"], service.CaseFilter(), cursor=cursor)
