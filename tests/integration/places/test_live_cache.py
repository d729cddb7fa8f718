"""The nearby views' in-process cache of live states (backend/places/live_cache.py): entries dropped
when the change feed says so, a short TTL with background re-reads while there is no feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from backend import live
from backend.places import live_cache
from backend.places.live_cache import LISTENER, LiveCache
from tests.integration.places.places_support import report


async def _until(condition: Any, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def listening(redis: Any) -> AsyncIterator[None]:
    LISTENER.start(redis)
    await _until(lambda: LISTENER.listening)
    yield
    await LISTENER.stop()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every read the caches send to Redis (ids per pipelined read)."""
    seen: list[list[str]] = []
    real = live.get_states

    async def counting(redis: Any, kind: str, object_ids: Any, *, now: Any = None) -> Any:
        seen.append(list(object_ids))
        return await real(redis, kind, object_ids, now=now)

    monkeypatch.setattr(live_cache.live, "get_states", counting)
    return seen


async def free_stalls(cache: LiveCache, redis: Any, object_id: str) -> Any:
    state = (await cache.get_many(redis, [object_id], datetime.now(UTC)))[object_id]
    assert state is not None
    return state.values()["free_stalls"]


async def test_a_change_on_the_feed_drops_the_entry_and_nothing_else_is_read_again(
    redis: Any, listening: None, reads: list[list[str]]
) -> None:
    cache = LiveCache("toilet", ttl_s=1.0)
    heard = LISTENER.heard
    await report(redis, "toilet", "C-1", free_stalls=1)
    await report(redis, "toilet", "C-2", free_stalls=7)
    await _until(lambda: LISTENER.heard == heard + 2)
    assert [await free_stalls(cache, redis, "C-1"), await free_stalls(cache, redis, "C-2")] == [1, 7]
    await asyncio.sleep(1.2)  # past the fallback TTL: with the feed on, unchanged entries are still good
    assert [await free_stalls(cache, redis, "C-1"), await free_stalls(cache, redis, "C-2")] == [1, 7]
    assert reads == [["C-1"], ["C-2"]]
    await report(redis, "toilet", "C-1", free_stalls=2)
    await _until(lambda: "C-1" not in cache._states)
    assert [await free_stalls(cache, redis, "C-1"), await free_stalls(cache, redis, "C-2")] == [2, 7]
    assert reads == [["C-1"], ["C-2"], ["C-1"]]


async def test_a_write_that_changes_nothing_publishes_nothing(redis: Any, listening: None) -> None:
    cache = LiveCache("toilet", ttl_s=1.0)
    heard = LISTENER.heard
    ts = await report(redis, "toilet", "N-1", free_stalls=3)
    await _until(lambda: LISTENER.heard == heard + 1)
    assert await free_stalls(cache, redis, "N-1") == 3
    older = [live.MetricUpdate("free_stalls", 9, ts.replace(year=ts.year - 1), "test-device", 60)]
    assert await live.write(redis, "toilet", "N-1", older) == 0  # an older reading is ignored
    await report(redis, "toilet", "N-2", free_stalls=1)  # a change after it: heard once this is heard
    await _until(lambda: LISTENER.heard == heard + 2)
    assert "N-1" in cache._states


async def test_a_read_that_raced_a_change_is_answered_but_not_kept(redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = LiveCache("toilet", ttl_s=60.0)
    await report(redis, "toilet", "R-1", free_stalls=1)
    real = live.get_states

    async def change_midway(redis: Any, kind: str, object_ids: Any, *, now: Any = None) -> Any:
        got = await real(redis, kind, object_ids, now=now)
        cache.changed("R-1")  # the change is heard while this read is on its way back
        return got

    monkeypatch.setattr(live_cache.live, "get_states", change_midway)
    assert await free_stalls(cache, redis, "R-1") == 1
    assert "R-1" not in cache._states
    monkeypatch.setattr(live_cache.live, "get_states", real)
    assert await free_stalls(cache, redis, "R-1") == 1
    assert "R-1" in cache._states, "a read with no change meanwhile is kept"


async def test_losing_the_feed_falls_back_to_the_short_ttl_and_resubscribing_empties_the_cache(
    redis: Any, listening: None
) -> None:
    cache = LiveCache("toilet", ttl_s=1.0)
    heard = LISTENER.heard
    await report(redis, "toilet", "L-1", free_stalls=4)
    await _until(lambda: LISTENER.heard == heard + 1)
    assert await free_stalls(cache, redis, "L-1") == 4
    assert await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
    await _until(lambda: not LISTENER.listening)
    assert cache._states, "entries survive until the feed is back"
    await _until(lambda: LISTENER.listening)
    assert "L-1" not in cache._states, "changes published while the feed was down were missed"


async def test_without_the_feed_it_refreshes_in_the_background_what_it_showed_a_moment_ago(
    redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(live_cache, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(live_cache, "LISTENER", SimpleNamespace(listening=False))
    cache = LiveCache("toilet", ttl_s=1.0)
    await report(redis, "toilet", "B-1", free_stalls=1)
    assert await free_stalls(cache, redis, "B-1") == 1
    await report(redis, "toilet", "B-1", free_stalls=2)
    clock[0] += 0.5  # younger than the TTL: served from memory, nothing re-read
    assert await free_stalls(cache, redis, "B-1") == 1 and cache._refreshing is None
    clock[0] += 0.7  # older than the TTL, younger than twice it: served at once, and re-read behind
    assert await free_stalls(cache, redis, "B-1") == 1
    assert cache._refreshing is not None
    await cache._refreshing
    assert await free_stalls(cache, redis, "B-1") == 2
    clock[0] += 2.5  # older than twice the TTL: read before answering
    await report(redis, "toilet", "B-1", free_stalls=3)
    assert await free_stalls(cache, redis, "B-1") == 3


def test_live_keys_parse_back_to_kind_and_object() -> None:
    assert live.parse_key(live.key("toilet", "T-1")) == ("toilet", "T-1")
    assert live.parse_key(live.key("parking_space", "A:7")) == ("parking_space", "A:7")
    assert live.parse_key("other:toilet:T-1") is None and live.parse_key("live:toilet") is None
