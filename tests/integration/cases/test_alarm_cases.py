"""Device alarms open, join and reopen cases; their clearing is evidence for 核查."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from backend.cases.alarms import on_alarm_cleared, on_alarm_raised
from backend.models import Case, CaseAlarmLink, CaseEvent, Department
from tests.integration.cases.conftest import MONDAY_9, grid_centre

MESSAGE: Any = None  # the handlers do not read the outbox row itself


def raised(
    device: uuid.UUID, rule: uuid.UUID, lat: float, lng: float, severity: str = "critical", **kw: Any
) -> dict[str, Any]:
    return {
        "alarm_id": str(kw.get("alarm_id", uuid.uuid4())), "device_id": str(device), "device_code": "MH-0001",
        "rule_id": str(rule), "rule_code": "manhole_tilt", "category_code": "E0701", "severity": severity,
        "object_kind": "manhole", "object_id": "C0101-0001", "lat": lat, "lng": lng, "coord": "wgs84",
        "metric": "tilt_deg", "first_value": 18.5, "raised_at": kw.get("at", MONDAY_9).isoformat(),
    }  # fmt: skip


async def _case_of(db: Any, alarm_id: str) -> Case:
    link = await db.scalar(select(CaseAlarmLink).where(CaseAlarmLink.alarm_id == uuid.UUID(alarm_id)))
    assert link is not None
    case = await db.get(Case, link.case_id)
    assert case is not None
    return case


async def test_alarm_life_on_a_case(db: Any) -> None:
    lat, lng = await grid_centre(db, "420117001001001")
    device, rule = uuid.uuid4(), uuid.uuid4()
    first = raised(device, rule, lat, lng)
    await on_alarm_raised(db, first, MESSAGE)
    await on_alarm_raised(db, first, MESSAGE)  # the job ran twice
    case = await _case_of(db, first["alarm_id"])
    sw = await db.scalar(select(Department.id).where(Department.code == "XZ-SW"))
    assert (case.source, case.reporter_kind, case.state, case.main_department_id) == (
        "device",
        "device",
        "dispatched",
        sw,
    )
    assert (
        await db.scalar(select(func.count()).select_from(CaseAlarmLink).where(CaseAlarmLink.device_id == device)) == 1
    )

    again = raised(device, rule, lat, lng, at=MONDAY_9 + timedelta(minutes=5))
    await on_alarm_raised(db, again, MESSAGE)
    assert (await _case_of(db, again["alarm_id"])).id == case.id, "a repeat while open joins the case"

    await on_alarm_cleared(db, {"alarm_id": first["alarm_id"], "device_id": str(device), "rule_id": str(rule),
                                "category_code": "E0701", "cleared_at": (MONDAY_9 + timedelta(hours=1)).isoformat(),
                                "clear_value": 0.5, "cleared_by": None, "note": None}, MESSAGE)  # fmt: skip
    actions = (
        await db.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    ).all()
    assert (
        actions[:3] == ["report", "accept", "dispatch"] and "alarm_repeat" in actions and actions[-1] == "alarm_cleared"
    )

    # Close it the ordinary way, then the problem comes back: the case reopens and goes back to 水务.
    case.state = "closed"
    case.stage = None
    await db.flush()
    back = raised(device, rule, lat, lng, at=MONDAY_9 + timedelta(days=2))
    await on_alarm_raised(db, back, MESSAGE)
    reopened = await _case_of(db, back["alarm_id"])
    assert reopened.id == case.id and reopened.state == "dispatched" and reopened.reopens == 1


async def test_a_minor_alarm_goes_to_a_collector_to_verify(db: Any) -> None:
    lat, lng = await grid_centre(db, "420117001001002")
    minor = raised(uuid.uuid4(), uuid.uuid4(), lat, lng, severity="minor")
    await on_alarm_raised(db, minor, MESSAGE)
    case = await _case_of(db, minor["alarm_id"])
    assert case.state == "verifying" and case.main_department_id is None


async def test_an_alarm_without_a_place_opens_nothing(db: Any) -> None:
    nowhere = raised(uuid.uuid4(), uuid.uuid4(), 0, 0)
    nowhere["lat"] = None
    await on_alarm_raised(db, nowhere, MESSAGE)
    assert (
        await db.scalar(select(CaseAlarmLink.id).where(CaseAlarmLink.alarm_id == uuid.UUID(nowhere["alarm_id"])))
        is None
    )
