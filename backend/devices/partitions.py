"""Day partitions of ``device_readings``: created ahead, on demand, and dropped after retention.

Partitions are named ``device_readings_parts.pYYYYMMDD`` and cover one UTC day. They are created
as plain tables and then ATTACHed: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent,
which does not wait for (or block) ingest transactions writing to it — CREATE … PARTITION OF would
need an ACCESS EXCLUSIVE lock. Dropping needs that lock, so it is done by the periodic job with a
short ``lock_timeout`` (a busy moment is simply retried at the next run). An advisory lock keeps
two processes from creating the same partition at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.devices.settings import IngestSettings

log = logging.getLogger("chengguan.devices.partitions")

PARENT = "device_readings"
SCHEMA = "device_readings_parts"
_NAME = re.compile(r"^p(\d{8})$")
_ADVISORY_KEY = 0x6465765F70617274  # "dev_part"
LOCK_TIMEOUT = "2s"


def partition_name(day: date) -> str:
    return f"p{day:%Y%m%d}"


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


async def existing_partitions(conn: AsyncConnection) -> set[date]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = CAST(:parent AS regclass) AND n.nspname = :schema"
        ),
        {"parent": PARENT, "schema": SCHEMA},
    )
    days = set()
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            days.add(datetime.strptime(match.group(1), "%Y%m%d").date())
    return days


async def create_partitions(engine: AsyncEngine, days: Iterable[date]) -> list[date]:
    """Create (and attach) the partitions of ``days`` that do not exist yet; returns those created."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        have = await existing_partitions(conn)
        created = []
        for day in wanted:
            if day in have:
                continue
            name = f"{SCHEMA}.{partition_name(day)}"
            start = datetime.combine(day, time(0), tzinfo=UTC).isoformat()
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC).isoformat()
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            await conn.execute(
                text(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            )
            await conn.execute(
                text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")
            )
            created.append(day)
    if created:
        log.info("created readings partitions %s", ", ".join(str(d) for d in created))
    return created


async def drop_partitions_before(engine: AsyncEngine, cutoff: date) -> list[date]:
    """Drop every partition of a day before ``cutoff``; returns the days dropped."""
    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        old = sorted(d for d in await existing_partitions(conn) if d < cutoff)
        for day in old:
            await conn.execute(text(f"DROP TABLE {SCHEMA}.{partition_name(day)}"))
    if old:
        log.info("dropped readings partitions %s (retention)", ", ".join(str(d) for d in old))
    return old


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


class PartitionCache:
    """The days this process knows have a partition, so ingest checks its readings' days in memory
    and goes to the database only for a day it has not seen (a back-filled day, a new day)."""

    def __init__(self) -> None:
        self.known: set[date] = set()

    async def ensure(self, engine: AsyncEngine, days: set[date]) -> None:
        missing = days - self.known
        if not missing:
            return
        async with engine.connect() as conn:
            self.known = await existing_partitions(conn)
        missing -= self.known
        if missing:
            await create_partitions(engine, missing)
            self.known |= missing
