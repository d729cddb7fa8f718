"""What the field surface needs before the first upload: the patrol-track partitions around now."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.field.partitions import TrackPartitions

log = logging.getLogger("chengguan.field")


async def prepare(engine: AsyncEngine) -> TrackPartitions:
    """This month's and the next months' partitions; if the database is down at start-up, uploads
    create them on demand later."""
    partitions = TrackPartitions(engine)
    try:
        await partitions.prepare()
    except Exception:
        log.exception("could not prepare patrol-track partitions at start-up; will retry on demand")
    return partitions
