"""The nearby index of a kind of place (toilets, parking lots): Redis GEO, kept in step with PostgreSQL.

PostgreSQL is the source of truth; Redis holds, per kind,

- ``places:geo:<kind>`` — a GEO set of the places' ids at their WGS-84 positions;
- ``places:ver:<kind>`` — a random token that changes with every change to the set. It exists only
  when the set is complete: after a Redis restart or flush it is gone, and the next search rebuilds.

Keeping it in step:

- a service that creates, moves or deletes a place stages the change on the session (``stage``); after
  the transaction commits, the change is applied in one script — only if the set exists, so a change
  never turns an empty or lost set into a "complete" one — and the token changes. Nothing is written
  for a transaction that rolls back;
- at start-up (and every few minutes in the worker) ``check`` compares the ids in Redis with those in
  PostgreSQL and rebuilds on any difference; ``chengguan toilets rebuild-index`` rebuilds by hand.

Searching (``search``): ``GEOSEARCH`` by radius, then the records from an in-process cache of the
table, reloaded when the token changes (every API process has its own). The token is read with the
search (one pipelined round trip) and then trusted for ``PLACES_LIVE_CACHE_MS`` (default 1 s), so
most searches are that one ``GEOSEARCH``; an id the cache does not know makes it read the token and
reload at once, and this process's own changes are seen at once. Distances are computed here from
the stored coordinates (haversine), never taken from Redis, and the radius is searched with a small
margin, so the answer is exactly the one the PostgreSQL fallback gives: when Redis is unreachable, a
bounding-box query on the ``(lat, lng)`` index plus the same exact distance filter. Ties are broken
by id, so both give the same order too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.geo import EARTH_RADIUS_M, BBox, bbox_around
from backend.places.live_cache import cache_ms

log = logging.getLogger("chengguan.places")

AFTER_COMMIT_KEY = "after_commit:places_index"
# Redis measures on a sphere of 6372797.56 m (ours: 6371008.8 m) and stores 52-bit geohashes (< 1 m):
# search a little wider, then filter by our own distance.
_RADIUS_MARGIN = 1.003
_RADIUS_SLACK_M = 2.0
_RAD = math.pi / 180.0
_BEYOND_SHARE = 1e-3
_BEYOND_SLACK_M = 2.0
_DIAMETER_M = 2.0 * EARTH_RADIUS_M
_GEO_MAX_LAT = 85.05112878  # Redis GEO covers Web Mercator's latitudes only

_APPLY = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 2, #ARGV, 4 do
  if ARGV[i] == 'add' then
    redis.call('GEOADD', KEYS[1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 1])
  else
    redis.call('ZREM', KEYS[1], ARGV[i + 1])
  end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


SessionSource = AsyncSession | async_sessionmaker[AsyncSession]
"""A session to read with, or a factory to open one only when PostgreSQL is needed (the nearby
search usually is answered from Redis and memory alone)."""


@asynccontextmanager
async def session_of(source: SessionSource) -> AsyncIterator[AsyncSession]:
    if isinstance(source, AsyncSession):
        yield source
    else:
        async with source() as session:
            yield session


class Place(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def lat(self) -> float: ...

    @property
    def lng(self) -> float: ...


P = TypeVar("P", bound=Place)


class Hit(NamedTuple, Generic[P]):
    """Fields in this order so that plain tuple order is nearest first, ties by id."""

    distance_m: float
    place_id: str
    place: P


@dataclass(frozen=True)
class SearchResult(Generic[P]):
    hits: list[Hit[P]]
    source: Literal["redis", "database"]
    # None: every place within the radius is in ``hits``. Otherwise the search was cut at ``count``
    # places and every place missing from ``hits`` is at least ``beyond_m`` away: hits up to that
    # distance are exactly the nearest.
    beyond_m: float | None = None


@dataclass(frozen=True)
class Change:
    kind: str
    op: Literal["add", "remove"]
    place_id: str
    lat: float = 0.0
    lng: float = 0.0


class _OutOfRange(Exception):
    pass


def _token() -> str:
    return uuid.uuid4().hex


class PlaceIndex(Generic[P]):
    """The nearby index of one kind of place. ``load_all`` reads every place; ``load_box`` the places
    inside a bounding box (the fallback) — both from PostgreSQL, as the same in-memory records."""

    def __init__(
        self,
        kind: str,
        load_all: Callable[[AsyncSession], Awaitable[list[P]]],
        load_box: Callable[[AsyncSession, BBox], Awaitable[list[P]]],
    ) -> None:
        self.kind = kind
        self.geo_key = f"places:geo:{kind}"
        self.version_key = f"places:ver:{kind}"
        self._load_all = load_all
        self._load_box = load_box
        # The token the records were loaded at, and the records by id as Redis returns it (bytes).
        self._cache: tuple[bytes, dict[bytes, P]] | None = None
        # How long the set's token, once read, is trusted (changes made by other processes show this
        # much later; this process's own changes invalidate it at once). Same setting as the live cache.
        self.version_ttl_s = cache_ms() / 1000
        self._checked = 0.0
        _INDEXES[kind] = self

    # --- writing ------------------------------------------------------------------------------------

    def stage_add(self, session: AsyncSession, place_id: str | uuid.UUID, lat: float, lng: float) -> None:
        """After this transaction commits, the place is at (lat, lng) in the index."""
        _pending(session).append(Change(self.kind, "add", str(place_id), lat, lng))

    def stage_remove(self, session: AsyncSession, place_id: str | uuid.UUID) -> None:
        _pending(session).append(Change(self.kind, "remove", str(place_id)))

    async def apply(self, redis: Redis, changes: Sequence[Change]) -> bool:
        """Apply committed changes; False when the set is not there (the next search rebuilds it)."""
        args: list[Any] = [_token()]
        for c in changes:
            args += [c.op, c.place_id, repr(c.lng), repr(c.lat)]
        script = redis.register_script(_APPLY)
        applied = bool(await script(keys=[self.geo_key, self.version_key], args=args))
        self._checked = 0.0  # read the new token next time
        return applied

    async def rebuild(self, session: AsyncSession, redis: Redis) -> int:
        """Replace the set with the places in PostgreSQL (atomically: built aside, then renamed)."""
        places = await self._load_all(session)
        token = _token()
        scratch = f"{self.geo_key}:build:{token}"
        async with redis.pipeline(transaction=True) as pipe:
            if places:
                members: list[Any] = []
                for p in places:
                    members += [p.lng, p.lat, p.id]
                pipe.geoadd(scratch, members)
                pipe.rename(scratch, self.geo_key)
            else:
                pipe.delete(self.geo_key)
            pipe.set(self.version_key, token)
            await pipe.execute()
        self._cache = (token.encode(), {p.id.encode(): p for p in places})
        log.info("rebuilt the %s nearby index: %d places", self.kind, len(places))
        return len(places)

    async def check(self, session: AsyncSession, redis: Redis) -> bool:
        """Compare the ids in Redis with PostgreSQL; rebuild on any difference. True if it rebuilt."""
        places = await self._load_all(session)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self.geo_key, 0, -1)
            pipe.exists(self.version_key)
            members, has_version = await pipe.execute()
        if has_version and {m.decode() for m in members} == {p.id for p in places}:
            return False
        log.warning(
            "the %s nearby index is out of step (%d in Redis, %d in PostgreSQL): rebuilding",
            self.kind,
            len(members),
            len(places),
        )
        await self.rebuild(session, redis)
        return True

    # --- reading ------------------------------------------------------------------------------------

    async def _places(self, sessions: SessionSource, version: bytes) -> dict[bytes, P]:
        if self._cache is None or self._cache[0] != version:
            async with session_of(sessions) as session:
                self._cache = (version, {p.id.encode(): p for p in await self._load_all(session)})
        return self._cache[1]

    def geosearch_args(self, lat: float, lng: float, radius_m: float, count: int | None = None) -> dict[str, Any]:
        """The arguments of the one ``GEOSEARCH`` a search sends (the bench's bare endpoint sends it too)."""
        return {
            "longitude": lng,
            "latitude": lat,
            "radius": radius_m * _RADIUS_MARGIN + _RADIUS_SLACK_M,
            "unit": "m",
            "sort": "ASC",
            "count": count,
        }

    async def _geosearch(
        self, redis: Redis, lat: float, lng: float, radius_m: float, count: int | None
    ) -> tuple[list[bytes], Any]:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.geosearch(self.geo_key, **self.geosearch_args(lat, lng, radius_m, count))
            pipe.get(self.version_key)
            ids, version = await pipe.execute()
        self._checked = time.monotonic()
        return ids, version

    async def _nearest(
        self, sessions: SessionSource, redis: Redis, lat: float, lng: float, radius_m: float, count: int | None
    ) -> tuple[list[P], bool]:
        """The places Redis finds, in its order, and whether it stopped at ``count``."""
        cache = self._cache
        if cache is not None and time.monotonic() - self._checked < self.version_ttl_s:
            # The token was read a moment ago: one GEOSEARCH, the records from memory.
            raw = await redis.geosearch(self.geo_key, **self.geosearch_args(lat, lng, radius_m, count))
            known = cache[1]
            try:
                return [known[i] for i in raw], count is not None and len(raw) >= count
            except KeyError:
                pass  # one this process has not loaded yet: read the token, reload
        raw, version = await self._geosearch(redis, lat, lng, radius_m, count)
        if version is None:  # the set is gone (Redis restarted empty, or was flushed)
            async with session_of(sessions) as session:
                await self.rebuild(session, redis)
            raw, version = await self._geosearch(redis, lat, lng, radius_m, count)
        places = await self._places(sessions, version)
        if not all(i in places for i in raw):  # changed since this process loaded them
            self._cache = None
            places = await self._places(sessions, version)
        return [places[i] for i in raw if i in places], count is not None and len(raw) >= count

    async def search(
        self,
        sessions: SessionSource,
        redis: Redis,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        count: int | None = None,
    ) -> SearchResult[P]:
        """Places within ``radius_m`` of (lat, lng), nearest first (WGS-84) — from Redis, or from
        PostgreSQL when Redis cannot be reached.

        ``count`` asks Redis for the nearest ``count`` only (a dense city has hundreds of places within
        a kilometre, and a phone shows twenty); the result's ``beyond_m`` then says how far its answer
        is exact (see ``SearchResult``)."""
        last: P | None = None
        try:
            if abs(lat) > _GEO_MAX_LAT:  # nothing of ours up there; PostgreSQL answers (nothing)
                raise _OutOfRange
            nearest, cut = await self._nearest(sessions, redis, lat, lng, radius_m, count)
            found: Iterable[P] = nearest
            if cut:  # Redis stopped at ``count``: the answer is exact only up to about its farthest
                if not nearest:
                    return SearchResult([], "redis", 0.0)
                last = nearest[-1]
            source: Literal["redis", "database"] = "redis"
        except (RedisError, _OutOfRange) as exc:
            if isinstance(exc, RedisError):
                log.warning("Redis is unavailable for the %s search (%s); using PostgreSQL", self.kind, exc)
            async with session_of(sessions) as session:
                found = await self._load_box(session, bbox_around(lat, lng, radius_m))
            source = "database"
        # ``haversine_m`` inlined, with what depends only on the query point computed once: the same
        # operations in the same order, so the same distances (the fallback's answers equal Redis's).
        hits: list[Hit[P]] = []
        add = hits.append
        phi1 = lat * _RAD
        cos, sin, asin, sqrt = math.cos, math.sin, math.asin, math.sqrt
        cos_phi1 = cos(phi1)
        for place in found:
            phi2 = place.lat * _RAD
            h = sin((phi2 - phi1) / 2.0) ** 2 + cos_phi1 * cos(phi2) * sin((place.lng - lng) * _RAD / 2.0) ** 2
            distance = _DIAMETER_M * asin(sqrt(h if h < 1.0 else 1.0))
            if distance <= radius_m:
                add(Hit(distance, place.id, place))
        hits.sort()  # by distance, then id (ids are unique: places themselves are never compared)
        beyond_m = None
        if last is not None:
            # Redis ranked by its own distance (another Earth radius, ~0.6 m geohash rounding): a place
            # it left out is no nearer than the last it returned, less 0.1 % and 2 m to spare.
            phi2 = last.lat * _RAD
            h = sin((phi2 - phi1) / 2.0) ** 2 + cos_phi1 * cos(phi2) * sin((last.lng - lng) * _RAD / 2.0) ** 2
            beyond = _DIAMETER_M * asin(sqrt(h if h < 1.0 else 1.0)) * (1 - _BEYOND_SHARE) - _BEYOND_SLACK_M
            beyond_m = beyond if beyond <= radius_m else None
        return SearchResult(hits, source, beyond_m)


# --- after commit ---------------------------------------------------------------------------------------

_INDEXES: dict[str, PlaceIndex[Any]] = {}
_redis: Redis | None = None
_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task[None]] = set()


def _pending(session: AsyncSession) -> list[Change]:
    changes: list[Change] = session.info.setdefault(AFTER_COMMIT_KEY, [])
    return changes


def install(redis: Redis | None) -> None:
    """Apply staged changes to this Redis after each commit (the API process calls this at start-up;
    ``None`` stops it). Registered with ``backend.db.on_after_commit``."""
    from backend.db import on_after_commit

    global _redis, _loop
    _redis = redis
    _loop = asyncio.get_running_loop() if redis is not None else None
    on_after_commit(_after_commit)


async def _apply_all(redis: Redis, changes: list[Change]) -> None:
    by_kind: dict[str, list[Change]] = {}
    for c in changes:
        by_kind.setdefault(c.kind, []).append(c)
    for kind, group in by_kind.items():
        try:
            await _INDEXES[kind].apply(redis, group)
        except Exception as exc:  # the start-up check (and the worker's) heals it
            log.warning("could not update the %s nearby index after commit: %s", kind, exc)


def _after_commit(flags: dict[str, object]) -> None:
    changes = flags.get(AFTER_COMMIT_KEY)
    if not changes or _redis is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if loop is not _loop:  # another event loop of this process (a CLI command, a test): its own business
        return
    task = loop.create_task(_apply_all(_redis, list(changes)))  # type: ignore[call-overload]
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def drain() -> None:
    """Wait for the changes of committed transactions to reach Redis (tests, CLI)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
