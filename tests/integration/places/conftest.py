"""Each places test reads live state and index tokens straight from Redis (the in-process caches off),
so what a test writes shows at once; the caches have a test of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backend.parking import service as parking
from backend.places.index import PlaceIndex
from backend.places.live_cache import LISTENER, LiveCache
from backend.toilets import service as toilets


@pytest.fixture(autouse=True)
async def no_live_cache() -> AsyncIterator[None]:
    """Live state and the nearby indexes' tokens read at every request (no in-process caching), and
    no live-change listener dropping entries behind a test's back (tests that want one start it)."""
    listening_to = LISTENER.redis if LISTENER._task is not None else None
    await LISTENER.stop()
    caches: list[LiveCache] = [toilets.LIVE, parking.GATES, parking.DETECTORS]
    indexes: list[PlaceIndex[Any]] = [toilets.INDEX, parking.INDEX]
    saved = [c.ttl_s for c in caches], [i.version_ttl_s for i in indexes]
    for cache in caches:
        cache.ttl_s = 0
        cache.clear()
    for index in indexes:
        index.version_ttl_s = 0
        index._checked = 0.0  # a token read by an earlier test is not trusted (Redis was flushed since)
    try:
        yield
    finally:
        for cache, ttl in zip(caches, saved[0], strict=True):
            cache.ttl_s = ttl
            cache.clear()
        for index, ttl in zip(indexes, saved[1], strict=True):
            index.version_ttl_s = ttl
        await LISTENER.stop()
        if listening_to is not None:
            LISTENER.start(listening_to)
