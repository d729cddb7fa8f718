"""A short in-process cache of live states (``backend.live``) for the nearby views.

A nearby search shows the live state of up to fifty places; reading and decoding their hashes is
most of its work. Devices report every minute or so, so each API process keeps what it read for
``PLACES_LIVE_CACHE_MS`` (default 1000 ms; 0 turns it off):

- younger than that: used as it is;
- up to twice that: used, and re-read in the background — the places due of all requests of the next
  50 ms in one pipelined round trip, so a busy process never waits on Redis for a place it showed
  a moment ago;
- older, or never read: read before answering.

So a new reading shows within about one to two of those periods. Staleness is never cached — the
views judge it again at every request from each reading's time and its device's interval
(``backend/toilets/rules.py``), so a reading that goes stale while cached is shown stale on time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from backend import live
from backend.live import LiveState
from backend.settings import _int

MAX_ENTRIES = 50_000
REFRESH_GATHER_S = 0.05

log = logging.getLogger("chengguan.places")


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

    def clear(self) -> None:
        self._states.clear()
        self._due.clear()

    async def get_many(self, redis: Redis, object_ids: Sequence[str], now: datetime) -> dict[str, LiveState | None]:
        """The states of ``object_ids`` (see the module docstring)."""
        ttl = self.ttl_s
        if ttl <= 0:
            return await live.get_states(redis, self.kind, object_ids, now=now)
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
        fetched = await live.get_states(redis, self.kind, object_ids, now=now)
        if len(self._states) > MAX_ENTRIES:
            self._states = {k: v for k, v in self._states.items() if clock - v[0] < 2 * self.ttl_s}
        out = {}
        for object_id, state in fetched.items():
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
