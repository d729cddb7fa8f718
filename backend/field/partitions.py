"""Month partitions of ``patrol_tracks``: created ahead (at start-up and by a daily job) and on demand
(an offline upload from a month that has none yet).

Partitions are named ``patrol_tracks_parts.pYYYYMM`` and cover one UTC month of ``started_at``. Each is
created as a plain table and then ATTACHed: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the
parent, so it neither waits for nor blocks uploads writing to it, where CREATE … PARTITION OF would
need an ACCESS EXCLUSIVE lock. An advisory lock keeps two processes from creating the same partition
at once. Creation runs on a connection of its own and commits at once: a partition must outlive the
request that needed it, even one that rolls back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("chengguan.field.partitions")

PARENT = "patrol_tracks"
SCHEMA = "patrol_tracks_parts"
MONTHS_AHEAD = 2
_NAME = re.compile(r"^p(\d{6})$")
_ADVISORY_KEY = 0x7472_6B5F_7061_7274  # "trk_part"
LOCK_TIMEOUT = "5s"


def month_of(ts: datetime) -> date:
    """The first day of the UTC month of ``ts`` — the partition a row with ``started_at = ts`` goes to."""
    utc = ts.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"p{month:%Y%m}"


def months_ahead(now: datetime, ahead: int = MONTHS_AHEAD) -> list[date]:
    """This month and ``ahead`` months after it."""
    months = [month_of(now)]
    for _ in range(ahead):
        months.append(next_month(months[-1]))
    return months


async def existing_partitions(conn: AsyncConnection) -> set[date]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = CAST(:parent AS regclass) AND n.nspname = :schema"
        ),
        {"parent": PARENT, "schema": SCHEMA},
    )
    months = set()
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            months.add(datetime.strptime(match.group(1), "%Y%m").date())
    return months


async def create_partitions(engine: AsyncEngine, months: Iterable[date]) -> list[date]:
    """Create (and attach) the partitions of ``months`` that do not exist yet; returns those created."""
    wanted = sorted({date(m.year, m.month, 1) for m in months})
    if not wanted:
        return []
    created = []
    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        have = await existing_partitions(conn)
        for month in wanted:
            if month in have:
                continue
            name = f"{SCHEMA}.{partition_name(month)}"
            start = datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()
            end_month = next_month(month)
            end = datetime(end_month.year, end_month.month, 1, tzinfo=UTC).isoformat()
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            await conn.execute(
                text(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            )
            await conn.execute(
                text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")
            )
            created.append(month)
    if created:
        log.info("created patrol track partitions %s", ", ".join(f"{m:%Y-%m}" for m in created))
    return created


class TrackPartitions:
    """The months this process knows have a partition, so an upload checks its months in memory and
    goes to the database only for a month it has not seen."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.known: set[date] = set()

    async def prepare(self, now: datetime | None = None) -> list[date]:
        """This month and the next ones (start-up and the daily job)."""
        created = await create_partitions(self.engine, months_ahead(now or datetime.now(UTC)))
        async with self.engine.connect() as conn:
            self.known = await existing_partitions(conn)
        return created

    async def ensure(self, months: set[date]) -> None:
        missing = months - self.known
        if not missing:
            return
        async with self.engine.connect() as conn:
            self.known = await existing_partitions(conn)
        missing -= self.known
        if missing:
            await create_partitions(self.engine, missing)
            self.known |= missing
