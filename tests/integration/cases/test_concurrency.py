"""Races on real, separate connections: one dispatch wins, numbers never repeat, the sweep notifies once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from backend.cases import service
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData
from backend.cases.sweep import sweep
from backend.db import create_session_factory, transaction
from backend.errors import Conflict
from backend.geo.cache import GeocoderCache
from backend.models import Case, CaseEvent, CaseReporter, Department, OutboxMessage, Staff
from tests.integration.cases.conftest import MONDAY_9


@pytest.fixture
async def factory(engine: Any, seeded: bool) -> Any:
    f = create_session_factory(engine)
    created: list[uuid.UUID] = []
    yield f, created
    async with transaction(f) as s:
        if created:
            await s.execute(
                delete(OutboxMessage).where(OutboxMessage.payload["case_id"].astext.in_([str(c) for c in created]))
            )
            await s.execute(delete(CaseReporter).where(CaseReporter.case_id.in_(created)))
            await s.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(created)))
            await s.execute(delete(Case).where(Case.id.in_(created)))


async def _new_case(f: Any, created: list[uuid.UUID], category: str = "E0106", accept: bool = True) -> uuid.UUID:
    async with transaction(f) as s:
        geocoder = await GeocoderCache().get(s)
        result = await service.intake(
            s, geocoder, Actor.citizen("racer"),
            IntakeData(source=CaseSource.citizen, category_code=category, lat=30.85, lng=114.79,
                       answers={"vehicle_type": "机动车"} if category == "E0106" else {}),
            now=MONDAY_9,
        )  # fmt: skip
        created.append(result.case.id)
        if accept:
            seat = await s.scalar(select(Staff).where(Staff.username == "seat1"))
            assert seat is not None
            await service.accept(s, Actor.staff(seat.id, seat.roles), result.case.id, now=MONDAY_9)
        return result.case.id


async def test_twenty_concurrent_dispatches_exactly_one_wins(factory: Any) -> None:
    f, created = factory
    case_id = await _new_case(f, created)  # E0106 has two owners: it waits in the manual queue
    async with f() as s:
        dispatcher = await s.scalar(select(Staff).where(Staff.username == "dispatcher1"))
        departments = (await s.scalars(select(Department.id).where(Department.code.in_(["XZ-JG", "XZ-CGJ"])))).all()
    actor = Actor.staff(dispatcher.id, dispatcher.roles)
    barrier = asyncio.Barrier(20)

    async def attempt(i: int) -> str:
        async with f() as s:
            await service.get_case(s, actor, case_id)  # everyone has read the case before anyone writes
            await barrier.wait()
            try:
                await service.dispatch(s, actor, case_id, departments[i % 2], now=MONDAY_9)
                await s.commit()
                return "ok"
            except Conflict:
                await s.rollback()
                return "conflict"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == 19
    async with f() as s:
        events = (
            await s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "dispatch"))
        ).all()
    assert len(events) == 1


async def test_twenty_concurrent_follows_by_one_citizen_add_one_reporter(factory: Any) -> None:
    """Twenty "me too" taps at once, each on its own connection: one adds the citizen, the others are told
    they already follow the case."""
    f, created = factory
    case_id = await _new_case(f, created)
    citizen = Actor.citizen(f"follower-{uuid.uuid4().hex[:12]}")
    barrier = asyncio.Barrier(20)

    async def tap() -> bool:
        async with f() as s:
            await s.get(Case, case_id)  # everyone has read the case before anyone writes
            await barrier.wait()
            _, added = await service.follow(s, citizen, case_id, now=MONDAY_9)
            await s.commit()
            return added

    added = await asyncio.gather(*(tap() for _ in range(20)))
    assert added.count(True) == 1 and added.count(False) == 19
    async with f() as s:
        reporters = (
            await s.scalars(
                select(CaseReporter).where(CaseReporter.case_id == case_id, CaseReporter.reporter_id == citizen.id)
            )
        ).all()
        follows = await s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action == "follow")
        )
    assert len(reporters) == 1 and follows == 1


async def test_twenty_citizens_saying_me_too_at_once_all_join(factory: Any) -> None:
    """Different citizens at once: every one is added, and their ``follow`` events take turns on the
    timeline instead of colliding on its sequence numbers."""
    f, created = factory
    case_id = await _new_case(f, created)
    citizens = [Actor.citizen(f"crowd-{uuid.uuid4().hex[:12]}") for _ in range(20)]
    barrier = asyncio.Barrier(20)

    async def tap(citizen: Actor) -> bool:
        async with f() as s:
            await s.get(Case, case_id)
            await barrier.wait()
            _, added = await service.follow(s, citizen, case_id, now=MONDAY_9)
            await s.commit()
            return added

    assert await asyncio.gather(*(tap(c) for c in citizens)) == [True] * 20
    async with f() as s:
        seqs = (
            await s.scalars(
                select(CaseEvent.seq)
                .where(CaseEvent.case_id == case_id, CaseEvent.action == "follow")
                .order_by(CaseEvent.seq)
            )
        ).all()
    assert len(seqs) == 20 and len(set(seqs)) == 20


async def test_ten_urges_at_once_all_reach_the_timeline(factory: Any) -> None:
    """催办 does not move the case (no version bump): ten at once take turns on the timeline's numbers."""
    f, created = factory
    case_id = await _new_case(f, created, category="E0101")  # one owner: dispatched on acceptance
    async with f() as s:
        lead = await s.scalar(select(Staff).where(Staff.username == "lead1"))
        assert (await s.get(Case, case_id)).state in {"dispatched", "disposing"}  # type: ignore[union-attr]
    actor = Actor.staff(lead.id, lead.roles)
    barrier = asyncio.Barrier(10)

    async def press(i: int) -> int:
        async with f() as s:
            await s.get(Case, case_id)
            await barrier.wait()
            event = await service.urge(s, actor, case_id, f"第{i}次催办", now=MONDAY_9)
            await s.commit()
            return event.seq

    seqs = await asyncio.gather(*(press(i) for i in range(10)))
    assert len(set(seqs)) == 10


async def test_case_numbers_are_unique_under_concurrency(factory: Any) -> None:
    f, _ = factory

    async def one() -> str:
        async with transaction(f) as s:
            return await service.next_number(s, MONDAY_9 + timedelta(days=400))

    numbers = await asyncio.gather(*(one() for _ in range(30)))
    assert len(set(numbers)) == 30
    seqs = sorted(int(n[8:]) for n in numbers)
    assert seqs == list(range(seqs[0], seqs[0] + 30)), "no gaps and no repeats under concurrency"


async def test_sweep_turns_yellow_then_red_and_notifies_once(factory: Any) -> None:
    f, created = factory
    case_id = await _new_case(f, created, category="E0101", accept=False)  # accept stage: 1 working hour
    async with f() as s:
        case = await s.get(Case, case_id)
        yellow_at, deadline = case.yellow_at, case.deadline
    assert yellow_at == MONDAY_9 + timedelta(minutes=48) and deadline == MONDAY_9 + timedelta(hours=1)

    async with transaction(f) as s:
        assert (await sweep(s, now=MONDAY_9 + timedelta(minutes=47))).yellow == 0
    async with transaction(f) as s:
        first = await sweep(s, now=MONDAY_9 + timedelta(minutes=50))
    async with transaction(f) as s:
        again = await sweep(s, now=MONDAY_9 + timedelta(minutes=55))
    assert first.yellow >= 1 and again.yellow == 0
    async with transaction(f) as s:
        late = await sweep(s, now=MONDAY_9 + timedelta(hours=2))
    async with transaction(f) as s:
        late_again = await sweep(s, now=MONDAY_9 + timedelta(hours=3))
    assert late.red >= 1 and late_again.red == 0

    async with f() as s:
        case = await s.get(Case, case_id)
        assert case.light == "red"
        actions = (
            await s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        ).all()
        notices = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic == "case.light", OutboxMessage.payload["case_id"].astext == str(case_id))
        )
    assert list(actions) == ["report", "urge", "overdue"]
    assert notices == 2, "one 催办 and one 超期 notice, however often the sweep runs"


async def test_a_case_found_past_its_deadline_gets_only_the_red_notice(factory: Any) -> None:
    f, created = factory
    case_id = await _new_case(f, created, category="E0101", accept=False)
    async with transaction(f) as s:
        result = await sweep(s, now=MONDAY_9 + timedelta(days=1))
    assert result.red >= 1
    async with f() as s:
        actions = (
            await s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        ).all()
        lights = (
            await s.scalars(
                select(OutboxMessage.payload["light"].astext).where(
                    OutboxMessage.topic == "case.light", OutboxMessage.payload["case_id"].astext == str(case_id)
                )
            )
        ).all()
    assert list(actions) == ["report", "overdue"] and list(lights) == ["red"]


async def test_the_sweep_uses_the_partial_indexes(engine: Any, seeded: bool) -> None:
    from sqlalchemy import text

    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in (
                await conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM cases WHERE stage IS NOT NULL AND "
                        "((light <> 'red' AND deadline < now()) "
                        "OR (light = 'green' AND yellow_at <= now() AND deadline >= now()))"
                    )
                )
            ).all()
        )
        await conn.rollback()
    assert "ix_cases_red_due" in plan and "ix_cases_yellow_due" in plan
