"""Live positions of collectors on shift (在岗采集员实时位置), in Redis GEO.

``field:live:collectors`` is a GEO set of the collectors on shift, at their last accepted fix (WGS-84);
``field:live:seen`` holds when each was last heard of. A collector leaves both at check-out; one who
stops sending (a flat battery, no signal) drops out of ``nearest_collector`` once their fix is older
than the live TTL, and is swept out of the keys at the next search.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

LIVE_KEY = "field:live:collectors"
SEEN_KEY = "field:live:seen"
DEFAULT_TTL_S = 600
SEARCH_RADIUS_M = 50_000  # a district; a task further than that waits for someone closer
SEARCH_COUNT = 20


@dataclass(frozen=True)
class NearbyCollector:
    staff_id: uuid.UUID
    distance_m: float


async def put_position(redis: Redis, staff_id: uuid.UUID, lat: float, lng: float, at: datetime) -> None:
    """Record a collector on shift at (lat, lng) WGS-84 — a later fix never goes back in time."""
    member = str(staff_id)
    seen = await redis.zscore(SEEN_KEY, member)
    if seen is not None and float(seen) > at.timestamp():
        return
    async with redis.pipeline(transaction=True) as pipe:
        pipe.geoadd(LIVE_KEY, [lng, lat, member])
        pipe.zadd(SEEN_KEY, {member: at.timestamp()})
        await pipe.execute()


async def remove(redis: Redis, staff_id: uuid.UUID) -> None:
    """Off shift (check-out): no more tasks by position."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(LIVE_KEY, str(staff_id))
        pipe.zrem(SEEN_KEY, str(staff_id))
        await pipe.execute()


async def _sweep_stale(redis: Redis, cutoff: float) -> None:
    stale = await redis.zrangebyscore(SEEN_KEY, "-inf", f"({cutoff}")
    if stale:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(LIVE_KEY, *stale)
            pipe.zrem(SEEN_KEY, *stale)
            await pipe.execute()


async def nearby_collectors(
    redis: Redis,
    lat: float,
    lng: float,
    *,
    now: datetime | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    radius_m: float = SEARCH_RADIUS_M,
    count: int = SEARCH_COUNT,
    exclude: frozenset[uuid.UUID] = frozenset(),
) -> list[NearbyCollector]:
    """Collectors on shift with a fresh fix within ``radius_m`` of (lat, lng) WGS-84, nearest first."""
    now = now or datetime.now(UTC)
    cutoff = now.timestamp() - ttl_s
    await _sweep_stale(redis, cutoff)
    found = await redis.geosearch(
        LIVE_KEY, longitude=lng, latitude=lat, radius=radius_m, unit="m", sort="ASC", count=count, withdist=True
    )
    result = []
    for member, distance in found:
        staff_id = uuid.UUID(member.decode() if isinstance(member, bytes) else str(member))
        if staff_id not in exclude:
            result.append(NearbyCollector(staff_id, float(distance)))
    return result


async def nearest_collector(
    redis: Redis,
    lat: float,
    lng: float,
    *,
    now: datetime | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    radius_m: float = SEARCH_RADIUS_M,
) -> NearbyCollector | None:
    """最近的在岗采集员 — the collector on shift nearest to (lat, lng) WGS-84, or None."""
    found = await nearby_collectors(redis, lat, lng, now=now, ttl_s=ttl_s, radius_m=radius_m, count=1)
    return found[0] if found else None


async def position_of(redis: Redis, staff_id: uuid.UUID) -> tuple[float, float] | None:
    """(lat, lng) of a collector on shift, or None."""
    [pos] = await redis.geopos(LIVE_KEY, str(staff_id))
    if pos is None:
        return None
    lng, lat = pos
    return float(lat), float(lng)
