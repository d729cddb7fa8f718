"""Start-up of the places: after-commit index updates on, and each nearby index checked against
PostgreSQL and rebuilt when they differ (a Redis that restarted empty, a change lost in a crash)."""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.places import index
from backend.places.index import PlaceIndex

log = logging.getLogger("chengguan.places")


def indexes() -> list[PlaceIndex[Any]]:
    from backend.parking.service import INDEX as PARKING
    from backend.toilets.service import INDEX as TOILETS

    return [TOILETS, PARKING]


async def heal(factory: async_sessionmaker[AsyncSession], redis: Redis) -> dict[str, bool]:
    """Check every nearby index; returns kind → rebuilt."""
    healed = {}
    for place_index in indexes():
        async with factory() as session:
            healed[place_index.kind] = await place_index.check(session, redis)
    return healed


async def rebuild_all(factory: async_sessionmaker[AsyncSession], redis: Redis) -> dict[str, int]:
    counts = {}
    for place_index in indexes():
        async with factory() as session:
            counts[place_index.kind] = await place_index.rebuild(session, redis)
    return counts


async def prepare(factory: async_sessionmaker[AsyncSession], redis: Redis) -> None:
    """The API process's start-up: apply index changes after commits, and heal the indexes."""
    index.install(redis)
    try:
        healed = await heal(factory, redis)
    except (RedisError, OSError) as exc:  # searches fall back to PostgreSQL; the worker heals later
        log.warning("could not check the nearby indexes at start-up: %s", exc)
        return
    if any(healed.values()):
        log.info("nearby indexes rebuilt at start-up: %s", [k for k, v in healed.items() if v])
