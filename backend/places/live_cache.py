"""A short in-process cache of live states (``backend.live``) for the nearby views.

A nearby search shows the live state of up to fifty places; reading and decoding their hashes is
most of its work. Devices report every minute or so, so each API process keeps what it read for
``PLACES_LIVE_CACHE_MS`` (default 1000 ms; 0 turns it off): a new reading shows at most that much
later. Staleness is never cached — the views judge it again at every request from each reading's
time and its device's interval (``backend/toilets/rules.py``), so a reading that goes stale while
cached is shown stale on time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from redis.asyncio import Redis

from backend import live
from backend.live import LiveState
from backend.settings import _int

MAX_ENTRIES = 50_000


def cache_ms() -> int:
    return _int("PLACES_LIVE_CACHE_MS", 1000, minimum=0, maximum=10_000)


class LiveCache:
    """Live states of one kind of object, read through ``backend.live.get_states``."""

    def __init__(self, kind: str, ttl_s: float | None = None) -> None:
        self.kind = kind
        self.ttl_s = cache_ms() / 1000 if ttl_s is None else ttl_s
        self._states: dict[str, tuple[float, LiveState | None]] = {}

    def clear(self) -> None:
        self._states.clear()

    async def get_many(self, redis: Redis, object_ids: Sequence[str], now: datetime) -> dict[str, LiveState | None]:
        """The states of ``object_ids``; those not read within the TTL in one pipelined round trip."""
        if self.ttl_s <= 0:
            return await live.get_states(redis, self.kind, object_ids, now=now)
        clock = time.monotonic()
        out: dict[str, LiveState | None] = {}
        missing = []
        for object_id in object_ids:
            hit = self._states.get(object_id)
            if hit is not None and clock - hit[0] < self.ttl_s:
                out[object_id] = hit[1]
            else:
                missing.append(object_id)
        if missing:
            fetched = await live.get_states(redis, self.kind, missing, now=now)
            if len(self._states) > MAX_ENTRIES:
                self._states = {k: v for k, v in self._states.items() if clock - v[0] < self.ttl_s}
            for object_id, state in fetched.items():
                old = self._states.get(object_id)
                if old is not None and old[1] is not None and state is not None and _same(old[1], state):
                    state = old[1]  # unchanged: keep the object, so what was derived from it stays valid
                self._states[object_id] = (clock, state)
                out[object_id] = state
        return out


def _same(a: LiveState, b: LiveState) -> bool:
    """The same readings (staleness aside, which the views judge themselves)."""
    if a.metrics.keys() != b.metrics.keys():
        return False
    for name, m in a.metrics.items():
        n = b.metrics[name]
        if m.ts != n.ts or m.value != n.value or m.interval_s != n.interval_s or m.device_id != n.device_id:
            return False
    return True
