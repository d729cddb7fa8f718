"""Device alarms that open cases (DESIGN §7): the case core's handlers of ``alarm.raised`` and
``alarm.cleared`` (published by backend/devices/alarms.py for rules configured with a category).

- A raised alarm opens one case through intake (source ``device``). A critical or major one is
  accepted and dispatched by the system at once (a tilted manhole cover or a gas leak cannot wait
  for a seat); a minor one goes to the grid's collector to verify (核实) first.
- While that case is open, a new alarm of the same device and rule joins it instead of opening another.
- When the alarm clears, the clearing is recorded on the case as evidence for 核查.
- An alarm that returns after its case was closed reopens the case (reopen → back to the department).
Each handler runs in the outbox job's transaction; the link table's unique alarm id makes a second
run of the same message do nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service
from backend.cases.enums import CaseAction, CaseSource, CaseState, Role
from backend.cases.service import Actor, IntakeData
from backend.geo.cache import GeocoderCache
from backend.models import Case, CaseAlarmLink, OutboxMessage
from backend.outbox import handler

URGENT_SEVERITIES = {"critical", "major"}
GEOCODER = GeocoderCache()

SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "minor": "一般", "info": "提示"}


def _device_actor(device_id: str) -> Actor:
    return Actor(kind="device", id=device_id, roles=frozenset({Role.device}))


def _when(raw: str | None) -> datetime:
    return datetime.fromisoformat(raw) if raw else datetime.now(UTC)


@handler("alarm.raised")
async def on_alarm_raised(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    alarm_id = uuid.UUID(payload["alarm_id"])
    if await session.scalar(select(CaseAlarmLink.id).where(CaseAlarmLink.alarm_id == alarm_id)) is not None:
        return  # this alarm already has its case
    device_id, rule_id = uuid.UUID(payload["device_id"]), uuid.UUID(payload["rule_id"])
    raised_at = _when(payload.get("raised_at"))
    previous = await session.scalar(
        select(Case)
        .join(CaseAlarmLink, CaseAlarmLink.case_id == Case.id)
        .where(CaseAlarmLink.device_id == device_id, CaseAlarmLink.rule_id == rule_id)
        .order_by(CaseAlarmLink.raised_at.desc())
        .limit(1)
    )
    severity = str(payload.get("severity", ""))
    note = f"设备告警（{SEVERITY_LABELS.get(severity, severity)}）：{payload.get('rule_code', '')}"
    if previous is not None and previous.state not in {CaseState.rejected.value, CaseState.merged.value}:
        case_id = previous.id
        if previous.state == CaseState.closed.value:
            await service.reopen(session, Actor.system(), case_id, "告警再次出现", now=raised_at)
        else:
            await service.record_evidence(
                session, case_id, "alarm_repeat", note=note, data={"alarm_id": str(alarm_id)}, now=raised_at
            )
    else:
        if payload.get("lat") is None or payload.get("lng") is None or not payload.get("category_code"):
            return  # a device with no location or a rule with no category opens no case
        result = await service.intake(
            session,
            await GEOCODER.get(session),
            _device_actor(payload["device_id"]),
            IntakeData(
                source=CaseSource.device,
                category_code=payload["category_code"],
                lat=float(payload["lat"]),
                lng=float(payload["lng"]),
                description=f"{note}；设备 {payload.get('device_code', '')}，读数 {payload.get('first_value')}",
            ),
            now=raised_at,
        )
        case_id = result.case.id
        if payload.get("severity") in URGENT_SEVERITIES:
            await service.accept(session, Actor.system(), case_id, note="设备告警自动立案", now=raised_at)
        else:
            await service.step(session, Actor.system(), case_id, CaseAction.verify_request, now=raised_at)
    session.add(
        CaseAlarmLink(case_id=case_id, alarm_id=alarm_id, device_id=device_id, rule_id=rule_id, raised_at=raised_at)
    )
    await session.flush()


@handler("alarm.cleared")
async def on_alarm_cleared(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    link = await session.scalar(
        select(CaseAlarmLink).where(CaseAlarmLink.alarm_id == uuid.UUID(payload["alarm_id"])).with_for_update()
    )
    if link is None or link.cleared_at is not None:
        return
    link.cleared_at = _when(payload.get("cleared_at"))
    await service.record_evidence(
        session,
        link.case_id,
        "alarm_cleared",
        note="设备告警已解除" + ("（人工解除）" if payload.get("cleared_by") else "（读数恢复正常）"),
        data={
            "alarm_id": payload["alarm_id"],
            "clear_value": payload.get("clear_value"),
            "cleared_by": payload.get("cleared_by"),
        },
        now=link.cleared_at,
    )
