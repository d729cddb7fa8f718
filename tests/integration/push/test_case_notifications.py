"""Case steps become notifications: the citizen hears of progress, the department of its new task,
the shift leads of an overdue case — once per step, however often the job runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from backend.cases import service
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData
from backend.cases.sweep import sweep
from backend.geo.cache import GeocoderCache
from backend.models import Citizen, Notification, OutboxMessage, Staff
from push.case_events import on_case_event, on_case_light
from tests.integration.cases.conftest import MONDAY_9


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
