"""Day partitions of the readings table: created ahead and on demand, dropped after retention."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.devices.partitions import SCHEMA, create_partitions, day_of, existing_partitions, maintain, partition_name
from backend.devices.settings import get_ingest_settings
from tests.integration.devices.conftest import MakeDevice, Sender


async def _days(engine: AsyncEngine) -> set[Any]:
    async with engine.connect() as conn:
        return await existing_partitions(conn)


async def test_partitions_are_created_ahead(engine: AsyncEngine, seeded: bool) -> None:
    settings = get_ingest_settings()
    now = datetime.now(UTC)
    await maintain(engine, settings, now, drop=False)
    today = day_of(now)
    wanted = {today + timedelta(days=n) for n in range(-1, settings.partitions_ahead_days + 1)}
    assert wanted <= await _days(engine)
    assert (
        await maintain(engine, settings, now, drop=False) == type(await maintain(engine, settings, now, drop=False))()
    )


async def test_partitions_past_retention_are_dropped_with_their_rows(engine: AsyncEngine, seeded: bool) -> None:
    settings = replace(get_ingest_settings(), retention_days=30)
    now = datetime.now(UTC)
    old_day = day_of(now) - timedelta(days=45)
    kept_day = day_of(now) - timedelta(days=29)
    await create_partitions(engine, [old_day, kept_day])
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO device_readings (device_id, ts, seq, received_at, metrics) "
                "VALUES (gen_random_uuid(), :ts, 1, now(), '{\"x\": 1}'), (gen_random_uuid(), :kept, 1, now(), '{}')"
            ),
            {"ts": now - timedelta(days=45), "kept": now - timedelta(days=29)},
        )
    done = await maintain(engine, settings, now)
    assert old_day in done.dropped and kept_day not in done.dropped
    days = await _days(engine)
    assert old_day not in days and kept_day in days and day_of(now) in days
    async with engine.connect() as conn:
        gone = await conn.scalar(text("SELECT to_regclass(:name)"), {"name": f"{SCHEMA}.{partition_name(old_day)}"})
        rows = await conn.scalar(
            text("SELECT count(*) FROM device_readings WHERE ts < :before"), {"before": now - timedelta(days=40)}
        )
        await conn.execute(text("DELETE FROM device_readings WHERE ts < :cut"), {"cut": now - timedelta(days=20)})
        await conn.commit()
    assert gone is None and rows == 0


async def test_a_back_filled_day_gets_its_partition_on_demand(
    engine: AsyncEngine, make_device: MakeDevice, sender: Any, db: AsyncSession
) -> None:
    now = datetime.now(UTC)
    day = day_of(now) - timedelta(days=12)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        await conn.execute(text(f"DROP TABLE IF EXISTS {SCHEMA}.{partition_name(day)}"))
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    response = await s.post([s.reading(1, now - timedelta(days=12), free_stalls=1), s.reading(2, free_stalls=2)])
    assert response.json()["accepted"] == 2
    assert day in await _days(engine)
    stored = await db.scalar(text("SELECT count(*) FROM device_readings WHERE device_id = :d"), {"d": device.id})
    assert stored == 2
