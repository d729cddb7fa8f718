"""Who hears about a case step: the case core's ``case.event`` and ``case.light`` outbox messages turned
into notifications (DESIGN §8). Citizens get progress; handlers get new tasks and 催办 (the sweep's at yellow,
and a person's by hand); shift leads get 超期.

Each notification's dedup key carries the event id, so a job that runs twice notifies once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Case, CaseEvent, CaseReporter, Category, Citizen, Department, OutboxMessage, Staff
from backend.outbox import handler
from backend.worktime import SHANGHAI
from push.service import Recipient, notify
from push.templates import (
    CASE_ACCEPTED,
    CASE_CLOSED,
    CASE_DISPATCHED,
    CASE_RATING_INVITED,
    CASE_REJECTED,
    TASK_ASSIGNED,
    TASK_OVERDUE,
    TASK_URGED,
)

CLOSING_ACTIONS = {"check_pass", "close"}


async def citizen_recipients(session: AsyncSession, case_id: uuid.UUID) -> list[Recipient]:
    """Every citizen who reported or follows the case (merged reporters included)."""
    ids = (
        await session.scalars(
            select(CaseReporter.reporter_id).where(
                CaseReporter.case_id == case_id, CaseReporter.reporter_kind == "citizen"
            )
        )
    ).all()
    wanted = []
    for raw in {i for i in ids if i}:
        try:
            wanted.append(uuid.UUID(raw))
        except ValueError:
            continue
    if not wanted:
        return []
    citizens = (await session.scalars(select(Citizen).where(Citizen.id.in_(wanted)))).all()
    return [Recipient.citizen(c.openid, c.phone, citizen_id=str(c.id)) for c in citizens]


async def department_staff(session: AsyncSession, department_id: uuid.UUID | None, *roles: str) -> list[Recipient]:
    if department_id is None:
        return []
    members = (await session.scalars(select(Staff).where(Staff.department_id == department_id, Staff.active))).all()
    return [Recipient.staff(m.id) for m in members if set(m.roles) & set(roles)]


async def shift_leads(session: AsyncSession) -> list[Recipient]:
    lead: Any = "shift_lead"
    members = (await session.scalars(select(Staff).where(Staff.active, Staff.roles.any(lead)))).all()
    return [Recipient.staff(m.id) for m in members]


def _deadline(case: Case) -> str:
    return case.deadline.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M") if case.deadline else "规定时限"


async def _summary(session: AsyncSession, case: Case) -> str:
    category = await session.get(Category, case.category_code)
    return category.name if category else case.category_code


@handler("case.event")
async def on_case_event(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    event = await session.get(CaseEvent, uuid.UUID(payload["event_id"]))
    case = await session.get(Case, uuid.UUID(payload["case_id"]))
    if event is None or case is None:
        return
    key = f"case.event:{event.id}"
    base = {"case_no": case.number, "case_id": str(case.id)}
    action = event.action
    if action == "accept":
        await notify(session, CASE_ACCEPTED, await citizen_recipients(session, case.id), base, key)
    elif action == "dispatch":
        department = await session.get(Department, uuid.UUID(event.data["department_id"]))
        name = department.name if department else "处置部门"
        await notify(
            session, CASE_DISPATCHED, await citizen_recipients(session, case.id), base | {"department": name}, key
        )
        handlers = await department_staff(session, case.main_department_id, "handler", "officer")
        data = base | {"summary": await _summary(session, case), "deadline": _deadline(case), "place": case.address}
        await notify(session, TASK_ASSIGNED, handlers, data, f"{key}:task")
    elif action == "reject":
        reason = event.data.get("reason") or event.note or "不符合立案条件"
        await notify(session, CASE_REJECTED, await citizen_recipients(session, case.id), base | {"reason": reason}, key)
    elif action in CLOSING_ACTIONS:
        citizens = await citizen_recipients(session, case.id)
        await notify(session, CASE_CLOSED, citizens, base, key)
        await notify(session, CASE_RATING_INVITED, citizens, base, f"{key}:rate")
    elif action == "field_assign":
        collector = event.data.get("collector_id")
        if collector:
            task = "核实" if event.data.get("task") == "verify" else "核查"
            data = base | {"summary": f"{task}：{await _summary(session, case)}", "deadline": _deadline(case),
                           "place": case.address}  # fmt: skip
            await notify(session, TASK_ASSIGNED, [Recipient.staff(collector)], data, key)
    elif action == "urge" and event.data.get("manual"):
        # 催办 by hand: the handling department hears it as it hears the sweep's yellow, with the urger's
        # note. No fallback to the shift leads as at yellow: the urger is the command centre itself, so a
        # case no department holds notifies nobody.
        handlers = await department_staff(session, case.main_department_id, "handler", "officer")
        data = base | {"summary": await _summary(session, case), "deadline": _deadline(case), "status": "收到催办",
                       "note": f"催办意见：{event.note}" if event.note else ""}  # fmt: skip
        await notify(session, TASK_URGED, handlers, data, key)


@handler("case.light")
async def on_case_light(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    """催办 to the handling department at yellow; 超期 to the shift leads at red."""
    case = await session.get(Case, uuid.UUID(payload["case_id"]))
    if case is None:
        return
    key = f"case.light:{payload['event_id']}"
    data = {"case_no": case.number, "case_id": str(case.id), "summary": await _summary(session, case),
            "deadline": _deadline(case)}  # fmt: skip
    if payload["light"] == "yellow":
        recipients = await department_staff(session, case.main_department_id, "handler", "officer")
        if not recipients:  # not dispatched yet: the stage belongs to the command centre
            recipients = await shift_leads(session)
        await notify(session, TASK_URGED, recipients, data, key)
    else:
        department = await session.get(Department, case.main_department_id) if case.main_department_id else None
        await notify(session, TASK_OVERDUE, await shift_leads(session),
                     data | {"department": department.name if department else "未派遣"}, key, urgent=True)  # fmt: skip
