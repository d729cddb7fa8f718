"""值班总览 — what the console's home page shows, gathered in one call: the case queues and tallies
(``backend.cases.queues``) and the active device alarms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.queues import CaseOverview, overview
from backend.devices.enums import AlarmState
from backend.models import Alarm, Device

RECENT_ALARMS = 8


@dataclass(frozen=True)
class ActiveAlarm:
    alarm: Alarm
    device_code: str
    device_name: str


@dataclass(frozen=True)
class Dashboard:
    at: datetime
    cases: CaseOverview
    alarms_by_severity: dict[str, int]
    recent_alarms: list[ActiveAlarm]

    @property
    def active_alarms(self) -> int:
        return sum(self.alarms_by_severity.values())


async def dashboard(session: AsyncSession, now: datetime | None = None) -> Dashboard:
    now = now or datetime.now(UTC)
    cases = await overview(session, now)
    active = Alarm.state != AlarmState.CLEARED.value
    counts = await session.execute(select(Alarm.severity, func.count()).where(active).group_by(Alarm.severity))
    recent = await session.execute(
        select(Alarm, Device.code, Device.name)
        .join(Device, Device.id == Alarm.device_id)
        .where(active)
        .order_by(Alarm.raised_at.desc())
        .limit(RECENT_ALARMS)
    )
    return Dashboard(
        at=now,
        cases=cases,
        alarms_by_severity={severity: int(n) for severity, n in counts.all()},
        recent_alarms=[ActiveAlarm(a, code, name) for a, code, name in recent.all()],
    )
