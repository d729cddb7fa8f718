"""Case steps become notifications: the citizen hears of progress, the department of its new task,
the shift leads of an overdue case, the department of a 催办 by hand — once per step, however often the
job runs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from push_support import run_outbox
from sqlalchemy import select

from backend.cases import service
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData
from backend.cases.sweep import sweep
from backend.errors import InvalidTransition
from backend.geo.cache import GeocoderCache
from backend.models import Citizen, Notification, OutboxMessage, Staff
from push.case_events import on_case_event, on_case_light
from tests.integration.cases.conftest import MONDAY_9, staff_actor


async def _run(db: Any, topic: str) -> None:
    messages = (await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic))).all()
    for m in messages:
        fn = on_case_event if topic == "case.event" else on_case_light
        await fn(db, dict(m.payload), m)
        await fn(db, dict(m.payload), m)  # a job run twice notifies once


async def test_case_steps_notify_citizen_department_and_shift_leads(db: Any) -> None:
    citizen = Citizen(openid="o-alice-openid-0001", phone="13900000001")
    db.add(citizen)
    await db.flush()
    geocoder = await GeocoderCache().get(db)
    result = await service.intake(
        db, geocoder, Actor.citizen(str(citizen.id)),
        IntakeData(source=CaseSource.citizen, category_code="E0101", lat=30.87, lng=114.76, description="垃圾"),
        now=MONDAY_9,
    )  # fmt: skip
    seat = await db.scalar(select(Staff).where(Staff.username == "seat1"))
    assert seat is not None
    await service.accept(db, Actor.staff(seat.id, seat.roles), result.case.id, now=MONDAY_9)
    await _run(db, "case.event")

    rows = (await db.scalars(select(Notification))).all()
    to_citizen = {n.event for n in rows if n.recipient_kind == "citizen"}
    assert {"case.accepted", "case.dispatched"} <= to_citizen
    dispatched = next(n for n in rows if n.event == "case.dispatched")
    assert "环境卫生管理处" in dispatched.body and result.case.number in dispatched.body
    handler = await db.scalar(select(Staff).where(Staff.username == "handler1"))
    assert handler is not None
    tasks = [n for n in rows if n.event == "task.assigned"]
    assert tasks and {n.recipient_id for n in tasks} == {str(handler.id)}
    per_key = [(n.dedup_key, n.recipient_id, n.channel) for n in rows]
    assert len(per_key) == len(set(per_key)), "each step notifies each recipient once per channel"

    await sweep(db, now=MONDAY_9 + timedelta(days=10))
    await _run(db, "case.light")
    overdue = (await db.scalars(select(Notification).where(Notification.event == "task.overdue"))).all()
    lead = await db.scalar(select(Staff).where(Staff.username == "lead1"))
    assert lead is not None and str(lead.id) in {n.recipient_id for n in overdue}
    assert all(n.urgent for n in overdue)


# --- 催办 by hand -------------------------------------------------------------------------------------

URGE_NOTE = "群众多次反映，请今天内处理完毕"


async def _handle_event(db: Any, event_id: uuid.UUID, times: int = 2) -> None:
    """Run the ``case.event`` job of one event, ``times`` times (a retried job)."""
    [message] = (
        await db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.topic == "case.event", OutboxMessage.payload["event_id"].astext == str(event_id)
            )
        )
    ).all()
    for _ in range(times):
        await on_case_event(db, dict(message.payload), message)


async def _reported_case(db: Any) -> Any:
    citizen = Citizen(openid=f"o-urge-{uuid.uuid4().hex[:12]}")
    db.add(citizen)
    await db.flush()
    geocoder = await GeocoderCache().get(db)
    result = await service.intake(
        db, geocoder, Actor.citizen(str(citizen.id)),
        IntakeData(source=CaseSource.citizen, category_code="E0101", lat=30.87, lng=114.76, description="垃圾"),
        now=MONDAY_9,
    )  # fmt: skip
    return result.case


async def _dispatched_case(db: Any) -> Any:
    case = await _reported_case(db)
    await service.accept(db, await staff_actor(db, "seat1"), case.id, now=MONDAY_9)  # E0101 → 环卫 by rule
    assert case.state == "dispatched" and case.main_department_id is not None
    return case


async def _urged(db: Any, event_id: uuid.UUID) -> list[Notification]:
    rows = await db.scalars(
        select(Notification)
        .where(Notification.dedup_key == f"case.event:{event_id}")
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def test_a_manual_urge_reaches_the_handling_department_once(
    db: Any, client: httpx.AsyncClient, session_factory: Any, dev_providers: Any
) -> None:
    case = await _dispatched_case(db)
    lead = await staff_actor(db, "lead1")
    urge = await service.urge(db, lead, case.id, URGE_NOTE, now=MONDAY_9 + timedelta(hours=1))
    await _handle_event(db, urge.id)  # the job runs twice: one notice per handler

    members = (
        await db.scalars(select(Staff).where(Staff.department_id == case.main_department_id, Staff.active))
    ).all()
    expected = {str(m.id) for m in members if {"handler", "officer"} & set(m.roles)}
    handler = await db.scalar(select(Staff).where(Staff.username == "handler1"))
    assert handler is not None and str(handler.id) in expected
    rows = await _urged(db, urge.id)
    assert sorted((n.recipient_kind, n.recipient_id, n.channel) for n in rows) == sorted(
        ("staff", staff_id, "inbox") for staff_id in expected
    ), "the department's handlers, once each; no citizen hears of an internal urge"
    [mine] = [n for n in rows if n.recipient_id == str(handler.id)]
    assert mine.event == "task.urged" and mine.title == f"催办：{case.number}"
    assert mine.body == f"任务 {case.number}（暴露垃圾）收到催办，请于11月23日 11:00前处理。催办意见：{URGE_NOTE}"

    # Delivered after commit; the handler sees it once in the field app's inbox, even after another retry.
    await db.commit()
    await run_outbox(session_factory)
    await _handle_event(db, urge.id, times=1)
    await db.commit()
    await run_outbox(session_factory)
    assert {n.status for n in await _urged(db, urge.id)} == {"sent"}
    login = await client.post("/api/field/v1/auth/login", json={"username": "handler1", "password": "Demo@2026"})
    assert login.status_code == 200, login.text
    inbox = await client.get("/api/field/v1/inbox", headers={"authorization": f"Bearer {login.json()['access_token']}"})
    assert inbox.status_code == 200, inbox.text
    urged = [i for i in inbox.json()["items"] if i["title"] == f"催办：{case.number}"]
    assert len(urged) == 1 and URGE_NOTE in urged[0]["body"]

    # A second urge is a new event: it is heard again.
    again = await service.urge(db, lead, case.id, "", now=MONDAY_9 + timedelta(hours=2))
    await _handle_event(db, again.id)
    [second] = [n for n in await _urged(db, again.id) if n.recipient_id == str(handler.id)]
    assert second.body.endswith("前处理。"), "no note, no 催办意见"


async def test_an_urge_on_a_case_no_department_holds_notifies_nobody(db: Any) -> None:
    lead = await staff_actor(db, "lead1")
    waiting = await _reported_case(db)
    with pytest.raises(InvalidTransition):  # not dispatched yet: the command centre holds it itself
        await service.urge(db, lead, waiting.id, URGE_NOTE, now=MONDAY_9)

    # Urged while the department held it; the department hands it back before the job runs.
    case = await _dispatched_case(db)
    urge = await service.urge(db, lead, case.id, URGE_NOTE, now=MONDAY_9 + timedelta(minutes=30))
    await service.return_case(db, await staff_actor(db, "handler1"), case.id, "不属于本单位职责", now=MONDAY_9)
    assert case.main_department_id is None
    await _handle_event(db, urge.id)
    assert await _urged(db, urge.id) == []
