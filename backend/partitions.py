"""Time partitions (分区) of a table: one per UTC day or month of its partition key, kept in a schema of
their own, created ahead and on demand, dropped after retention. Each table says its own names, lock
and retention (``backend/devices/partitions.py``, ``backend/field/partitions.py``).

A partition is created as a plain table and then ATTACHed: ATTACH takes only a SHARE UPDATE EXCLUSIVE
lock on the parent, so it neither waits for nor blocks the transactions writing to it, where CREATE …
PARTITION OF would need an ACCESS EXCLUSIVE lock. Dropping needs that lock, so only a periodic job drops,
under a short ``lock_timeout`` (a busy moment is simply retried at its next run). An advisory lock per
table keeps two processes from creating the same partition at once. Creation runs on a connection of its
own and commits at once: a partition must outlive the request that needed it, even one that rolls back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """What one partition covers — a UTC day or a UTC month — named by the period's first day."""

    name_format: str
    """``strftime`` of a partition's name."""
    name_pattern: re.Pattern[str]
    """A partition's name and no other table's."""
    shown_as: str
    """``strftime`` of a period in the logs."""
    start_of: Callable[[date], date]
    """The first day of the period a day falls in."""
    after: Callable[[date], date]
    """The first day of the next period."""


DAY = Period("p%Y%m%d", re.compile(r"^p\d{8}$"), "%Y-%m-%d", lambda day: day, lambda day: day + timedelta(days=1))
MONTH = Period("p%Y%m", re.compile(r"^p\d{6}$"), "%Y-%m", lambda day: date(day.year, day.month, 1), next_month)


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by ranges of time, its partitions ``schema.pYYYYMM[DD]``, one per ``period``."""

    parent: str
    schema: str
    period: Period
    advisory_key: int
    """Of the advisory lock taken while partitions are created or dropped."""
    lock_timeout: str
    what: str
    """The table in the logs: "created <what> partitions …"."""
    log: logging.Logger

    def partition_name(self, period: date) -> str:
        return f"{period:{self.period.name_format}}"

    async def existing(self, conn: AsyncConnection) -> set[date]:
        """The first days of the periods that have a partition."""
        rows = await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE i.inhparent = CAST(:parent AS regclass) AND n.nspname = :schema"
            ),
            {"parent": self.parent, "schema": self.schema},
        )
        return {
            datetime.strptime(name, self.period.name_format).date()
            for (name,) in rows
            if self.period.name_pattern.match(name)
        }

    async def create(self, engine: AsyncEngine, periods: Iterable[date]) -> list[date]:
        """Create (and attach) the partitions of ``periods`` that do not exist yet; returns those created."""
        wanted = sorted({self.period.start_of(p) for p in periods})
        if not wanted:
            return []
        created = []
        async with engine.begin() as conn:
            await self._lock(conn)
            have = await self.existing(conn)
            for start in wanted:
                if start not in have:
                    await self._attach(conn, start)
                    created.append(start)
        if created:
            self.log.info("created %s partitions %s", self.what, self._shown(created))
        return created

    async def drop_before(self, engine: AsyncEngine, cutoff: date) -> list[date]:
        """Drop every partition of a period that starts before ``cutoff``; returns the periods dropped."""
        async with engine.begin() as conn:
            await self._lock(conn)
            old = sorted(p for p in await self.existing(conn) if p < cutoff)
            for start in old:
                await conn.execute(text(f"DROP TABLE {self.schema}.{self.partition_name(start)}"))
        if old:
            self.log.info("dropped %s partitions %s (retention)", self.what, self._shown(old))
        return old

    async def _attach(self, conn: AsyncConnection, start: date) -> None:
        parent, name = self.parent, f"{self.schema}.{self.partition_name(start)}"
        lower = datetime.combine(start, time(0), tzinfo=UTC).isoformat()
        upper = datetime.combine(self.period.after(start), time(0), tzinfo=UTC).isoformat()
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self.schema}"))
        await conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        await conn.execute(
            text(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ('{lower}') TO ('{upper}')")
        )

    async def _lock(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{self.lock_timeout}'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.advisory_key})

    def _shown(self, periods: list[date]) -> str:
        return ", ".join(f"{p:{self.period.shown_as}}" for p in periods)


class KnownPartitions:
    """The periods this process knows have a partition of ``table``, so a writer checks its rows' periods
    in memory and goes to the database only for a period it has not seen (a back-filled day, a new month)."""

    def __init__(self, table: PartitionedTable) -> None:
        self.table = table
        self.known: set[date] = set()

    async def refresh(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            self.known = await self.table.existing(conn)

    async def ensure(self, engine: AsyncEngine, periods: set[date]) -> None:
        missing = periods - self.known
        if not missing:
            return
        await self.refresh(engine)
        missing -= self.known
        if missing:
            await self.table.create(engine, missing)
            self.known |= missing
