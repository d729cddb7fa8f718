"""Day partitions of ``device_readings``: created ahead, on demand, and dropped after retention.

Partitions are named ``device_readings_parts.pYYYYMMDD`` and cover one UTC day. How they are made
without waiting for ingest, and why only the periodic job drops them, is told in ``backend.partitions``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.devices.settings import IngestSettings
from backend.partitions import DAY, KnownPartitions, PartitionedTable

log = logging.getLogger("chengguan.devices.partitions")

PARENT = "device_readings"
SCHEMA = "device_readings_parts"
LOCK_TIMEOUT = "2s"
READINGS = PartitionedTable(
    PARENT,
    SCHEMA,
    DAY,
    advisory_key=0x6465765F70617274,  # "dev_part"
    lock_timeout=LOCK_TIMEOUT,
    what="readings",
    log=log,
)
partition_name = READINGS.partition_name
existing_partitions = READINGS.existing
create_partitions = READINGS.create
drop_partitions_before = READINGS.drop_before


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def days_between(first: datetime, last: datetime) -> set[date]:
    """The UTC days from ``first`` to ``last`` (inclusive)."""
    start, end = day_of(first), day_of(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


def retention_floor(now: datetime, retention_days: int) -> datetime:
    """The oldest reading time kept: midnight (UTC) ``retention_days`` days before today."""
    first_day = day_of(now) - timedelta(days=retention_days)
    return datetime.combine(first_day, time(0), tzinfo=UTC)


@dataclass
class Maintenance:
    created: list[date] = field(default_factory=list)
    dropped: list[date] = field(default_factory=list)


def days_ahead(now: datetime, settings: IngestSettings) -> list[date]:
    """Yesterday (late arrivals), today and ``partitions_ahead_days`` days ahead."""
    today = day_of(now)
    return [today + timedelta(days=n) for n in range(-1, settings.partitions_ahead_days + 1)]


async def maintain(
    engine: AsyncEngine, settings: IngestSettings, now: datetime | None = None, *, drop: bool = True
) -> Maintenance:
    """Create the partitions of ``days_ahead``; drop those past retention (unless ``drop`` is False)."""
    now = now or datetime.now(UTC)
    created = await create_partitions(engine, days_ahead(now, settings))
    dropped = []
    if drop:
        dropped = await drop_partitions_before(engine, day_of(retention_floor(now, settings.retention_days)))
    return Maintenance(created, dropped)


class PartitionCache(KnownPartitions):
    """The days this process knows have a partition, so ingest checks its readings' days in memory
    and goes to the database only for a day it has not seen (a back-filled day, a new day)."""

    def __init__(self) -> None:
        super().__init__(READINGS)
