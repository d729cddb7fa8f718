"""The periodic device jobs, as the worker runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.devices.jobs import CRON_JOBS, detect_silent_devices, maintain_readings_partitions
from backend.models import Alarm, AlarmRule, Device
from backend.worker import WorkerSettings
from tests.integration.devices.conftest import MakeDevice


def test_the_worker_runs_the_device_jobs() -> None:
    names = {job.name for job in WorkerSettings.cron_jobs}
    assert {"cron:maintain_readings_partitions", "cron:detect_silent_devices"} <= names
    assert all(job in WorkerSettings.cron_jobs for job in CRON_JOBS)
    maintain = next(j for j in CRON_JOBS if j.name == "cron:maintain_readings_partitions")
    assert maintain.run_at_startup  # partitions exist before the first batch of a fresh deployment


async def test_partition_job(engine: AsyncEngine, seeded: bool) -> None:
    result = await maintain_readings_partitions({"runtime": SimpleNamespace(engine=engine)})
    assert set(result) == {"created", "dropped"}


async def test_silent_device_job_raises_offline_alarms(
    make_device: MakeDevice, db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    device, _ = await make_device("parking_detector", interval_s=60)
    device.last_seen_at = datetime.now(UTC) - timedelta(minutes=5)
    device.online = True
    await db.commit()
    raised = await detect_silent_devices({"runtime": SimpleNamespace(session_factory=session_factory)})
    assert raised >= 1
    offline = await db.scalar(select(AlarmRule.id).where(AlarmRule.code == "device.offline"))
    alarm = await db.scalar(select(Alarm).where(Alarm.device_id == device.id, Alarm.rule_id == offline))
    assert alarm is not None and alarm.state == "active_unacknowledged"
    row = await db.get(Device, device.id, populate_existing=True)
    assert row is not None and row.online is False
