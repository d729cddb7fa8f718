"""Month partitions of ``patrol_tracks``: created ahead (at start-up and by a daily job) and on demand
(an offline upload from a month that has none yet).

Partitions are named ``patrol_tracks_parts.pYYYYMM`` and cover one UTC month of ``started_at``. How they
are made without waiting for uploads, and outlive a request that rolls back, is told in
``backend.partitions``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.partitions import MONTH, KnownPartitions, PartitionedTable, next_month

log = logging.getLogger("chengguan.field.partitions")

PARENT = "patrol_tracks"
SCHEMA = "patrol_tracks_parts"
MONTHS_AHEAD = 2
LOCK_TIMEOUT = "5s"
TRACKS = PartitionedTable(
    PARENT,
    SCHEMA,
    MONTH,
    advisory_key=0x7472_6B5F_7061_7274,  # "trk_part"
    lock_timeout=LOCK_TIMEOUT,
    what="patrol track",
    log=log,
)
partition_name = TRACKS.partition_name
existing_partitions = TRACKS.existing
create_partitions = TRACKS.create


def month_of(ts: datetime) -> date:
    """The first day of the UTC month of ``ts`` — the partition a row with ``started_at = ts`` goes to."""
    utc = ts.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def months_ahead(now: datetime, ahead: int = MONTHS_AHEAD) -> list[date]:
    """This month and ``ahead`` months after it."""
    months = [month_of(now)]
    for _ in range(ahead):
        months.append(next_month(months[-1]))
    return months


class TrackPartitions:
    """The months this process knows have a partition, so an upload checks its months in memory and
    goes to the database only for a month it has not seen."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.months = KnownPartitions(TRACKS)

    async def prepare(self, now: datetime | None = None) -> list[date]:
        """This month and the next ones (start-up and the daily job)."""
        created = await create_partitions(self.engine, months_ahead(now or datetime.now(UTC)))
        await self.months.refresh(self.engine)
        return created

    async def ensure(self, months: set[date]) -> None:
        await self.months.ensure(self.engine, months)
