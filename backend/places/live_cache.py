"""An in-process cache of live states (``backend.live``) for the nearby views.

A nearby search shows the live state of up to fifty places; reading and decoding their hashes was
most of its work. So each API process keeps what it read, and drops an object's entry the moment
it changes: every live-state write that changes something publishes the object's key on
``live.CHANGED_CHANNEL`` (from the write's own script), and ``listen`` — started with the API —
hears it. A new reading therefore shows at the next request, and an unchanged one costs nothing.

While the listener is subscribed an entry is kept up to ``LISTENED_TTL_S`` (a safety net only). While
it is not (Redis down, reconnecting, or a process that never started it) the cache falls back to a
short time-to-live, ``PLACES_LIVE_CACHE_MS`` (default 1000 ms; 0 turns caching off):

- younger than that: used as it is;
- up to twice that: used, and re-read in the background — the places due of all requests of the next
  50 ms in one pipelined round trip;
- older, or never read: read before answering.

Every (re)subscription empties the caches, since changes published meanwhile were missed. A read
that raced a change (the change was heard while the read was in flight) is answered but not kept.
Staleness is never cached — the views judge it again at every request from each reading's time and
its device's interval (``backend/toilets/rules.py``), so a reading that goes stale while cached is
shown stale on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from backend import live
from backend.live import LiveState
from backend.settings import _int

MAX_ENTRIES = 50_000
REFRESH_GATHER_S = 0.05
LISTENED_TTL_S = 300.0
RESUBSCRIBE_AFTER_S = (0.5, 1.0, 2.0, 5.0)

log = logging.getLogger("chengguan.places")

_caches: dict[str, weakref.WeakSet[LiveCache]] = {}


def cache_ms() -> int:
    return _int("PLACES_LIVE_CACHE_MS", 1000, minimum=0, maximum=10_000)


class LiveCache:
    """Live states of one kind of object, read through ``backend.live.get_states``."""

    def __init__(self, kind: str, ttl_s: float | None = None) -> None:
        self.kind = kind
        self.ttl_s = cache_ms() / 1000 if ttl_s is None else ttl_s
        self._states: dict[str, tuple[float, LiveState | None]] = {}
        self._due: set[str] = set()
        self._refreshing: asyncio.Task[None] | None = None
        # Change counter, and the counter's value at each object's last change: a read that started
        # before an object's last change must not be kept.
        self._changes = 0
        self._changed_at: dict[str, int] = {}
        self._cleared_at = 0
        _caches.setdefault(kind, weakref.WeakSet()).add(self)

    def clear(self) -> None:
        self._states.clear()
        self._due.clear()
        self._changes += 1
        self._changed_at.clear()
        self._cleared_at = self._changes

    def changed(self, object_id: str) -> None:
        """The object's live state changed: forget it (and any read of it now in flight)."""
        self._changes += 1
        self._changed_at[object_id] = self._changes
        self._states.pop(object_id, None)

    async def get_many(self, redis: Redis, object_ids: Sequence[str], now: datetime) -> dict[str, LiveState | None]:
        """The states of ``object_ids`` (see the module docstring)."""
        if self.ttl_s <= 0:
            return await live.get_states(redis, self.kind, object_ids, now=now)
        ttl = LISTENED_TTL_S if LISTENER.listening else self.ttl_s
        clock = time.monotonic()
        out: dict[str, LiveState | None] = {}
        missing = []
        for object_id in object_ids:
            hit = self._states.get(object_id)
            if hit is not None:
                age = clock - hit[0]
                if age < ttl:
                    out[object_id] = hit[1]
                    continue
                if age < 2 * ttl:
                    out[object_id] = hit[1]
                    self._due.add(object_id)
                    continue
            missing.append(object_id)
        if self._due and self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(redis))
        if missing:
            out.update(await self._fetch(redis, missing, now, clock))
        return out

    async def _fetch(
        self, redis: Redis, object_ids: Sequence[str], now: datetime, clock: float
    ) -> dict[str, LiveState | None]:
        started = self._changes
        fetched = await live.get_states(redis, self.kind, object_ids, now=now)
        if len(self._states) > MAX_ENTRIES:
            keep_s = 2 * (LISTENED_TTL_S if LISTENER.listening else self.ttl_s)
            self._states = {k: v for k, v in self._states.items() if clock - v[0] < keep_s}
        raced = self._changes != started
        out = {}
        for object_id, state in fetched.items():
            out[object_id] = state
            if raced and (self._cleared_at > started or self._changed_at.get(object_id, 0) > started):
                continue  # changed while we read it: what we read may be the old value
            old = self._states.get(object_id)
            if old is not None and old[1] is not None and state is not None and _same(old[1], state):
                state = old[1]  # unchanged: keep the object, so what was derived from it stays valid
            self._states[object_id] = (clock, state)
            out[object_id] = state
        return out

    async def _refresh(self, redis: Redis) -> None:
        try:
            await asyncio.sleep(REFRESH_GATHER_S)
            due = list(self._due)
            self._due.clear()
            if due:
                await self._fetch(redis, due, datetime.now(UTC), time.monotonic())
        except Exception as exc:  # the next request reads them itself
            log.warning("could not refresh live states of %s: %s", self.kind, exc)
        finally:
            self._refreshing = None


def _same(a: LiveState, b: LiveState) -> bool:
    """The same readings (staleness aside, which the views judge themselves)."""
    if a.metrics.keys() != b.metrics.keys():
        return False
    for name, m in a.metrics.items():
        n = b.metrics[name]
        if m.ts != n.ts or m.value != n.value or m.interval_s != n.interval_s or m.device_id != n.device_id:
            return False
    return True


def _clear_all() -> None:
    for caches in _caches.values():
        for cache in caches:
            cache.clear()


class Listener:
    """Subscribed to ``live.CHANGED_CHANNEL``; tells the caches what changed (one per process)."""

    def __init__(self) -> None:
        self.listening = False
        self.heard = 0  # changes heard since the process started
        self.redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, redis: Redis) -> None:
        self.redis = redis
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(redis), name="live-changes")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self.listening = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, redis: Redis) -> None:
        # Its own connection, without the commands' read timeout: the feed may be quiet for hours.
        pool = redis.connection_pool
        feed = Redis(
            connection_pool=ConnectionPool(
                connection_class=pool.connection_class,
                max_connections=2,
                **{**pool.connection_kwargs, "socket_timeout": None},
            )
        )
        try:
            await self._listen(feed)
        finally:
            with contextlib.suppress(Exception):
                await feed.aclose(close_connection_pool=True)

    async def _listen(self, redis: Redis) -> None:
        failures = 0
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(live.CHANGED_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        _clear_all()  # whatever changed before now was not heard
                        self.listening = True
                        failures = 0
                    elif message["type"] == "message":
                        self.heard += 1
                        parsed = live.parse_key(message["data"].decode())
                        if parsed is not None:
                            for cache in list(_caches.get(parsed[0], ())):
                                cache.changed(parsed[1])
            except (RedisError, OSError) as exc:
                if self.listening:
                    log.warning("lost the live-state change feed (%s); caching briefly until it is back", exc)
                self.listening = False
                await asyncio.sleep(RESUBSCRIBE_AFTER_S[min(failures, len(RESUBSCRIBE_AFTER_S) - 1)])
                failures += 1
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


LISTENER = Listener()
