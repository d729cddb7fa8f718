"""The live state of watched objects (实时状态): the newest value of each metric, in Redis.

One hash per object, ``live:{kind}:{object_id}``, one field per metric::

    free_stalls → [ts_ms, interval_s, "device id", value]      (JSON)

A write only replaces a field with a newer reading (compare-and-set in a Lua script), so batches
arriving out of order never roll a value back, and two devices on one object (an occupancy sensor
and an odour sensor on a toilet) each keep their own metrics. A metric is *stale* when its reading
is older than three of its device's reporting intervals: a citizen view shows it as stale, never
as live. Hashes expire a week after their last write.

A write that changed something publishes the hash's key on ``CHANGED_CHANNEL`` (from the same script,
so whoever hears it reads the new value): API processes keep what they read in memory and drop an
object's entry when it changes (``backend/places/live_cache.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

STALE_INTERVALS = 3
TTL_S = 7 * 24 * 3600
KEY_PREFIX = "live"
CHANGED_CHANNEL = "live-changed"

_WRITE = """
local n = 0
for i = 2, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if cur then
    local cts = tonumber(string.match(cur, '^%[(%-?%d+)'))
    if cts and cts > tonumber(ARGV[i + 1]) then newer = false end
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if n > 0 then redis.call('PUBLISH', KEYS[2], KEYS[1]) end
return n
"""


def key(kind: str, object_id: str) -> str:
    return f"{KEY_PREFIX}:{kind}:{object_id}"


def parse_key(raw: str) -> tuple[str, str] | None:
    """(kind, object id) of a live-state key, None for anything else."""
    prefix, _, rest = raw.partition(":")
    kind, _, object_id = rest.partition(":")
    return (kind, object_id) if prefix == KEY_PREFIX and kind and object_id else None


@dataclass(frozen=True)
class LiveMetric:
    """One metric's newest value, when it was measured and by which device."""

    value: Any
    ts: datetime
    device_id: str
    interval_s: int
    stale: bool


@dataclass(frozen=True)
class LiveState:
    """The live state of one object. ``stale`` is true when every metric is stale; ``ts`` is the
    newest reading time. ``values()`` gives the plain values, ``live_values()`` only the fresh ones."""

    kind: str
    object_id: str
    metrics: dict[str, LiveMetric]
    ts: datetime
    stale: bool

    def values(self) -> dict[str, Any]:
        return {name: m.value for name, m in self.metrics.items()}

    def live_values(self) -> dict[str, Any]:
        return {name: m.value for name, m in self.metrics.items() if not m.stale}


@dataclass(frozen=True)
class MetricUpdate:
    """The newest value of one metric from one batch (what ingest writes)."""

    metric: str
    value: Any
    ts: datetime
    device_id: str
    interval_s: int


def _parse(kind: str, object_id: str, raw: Mapping[bytes, bytes], now: datetime) -> LiveState | None:
    if not raw:
        return None
    metrics: dict[str, LiveMetric] = {}
    newest: datetime | None = None
    for field, blob in raw.items():
        try:
            ts_ms, interval_s, device_id, value = msgspec.json.decode(blob)
        except (msgspec.DecodeError, ValueError, TypeError):
            continue  # a field this module did not write
        ts = datetime.fromtimestamp(ts_ms / 1000, UTC)
        stale = (now - ts).total_seconds() > STALE_INTERVALS * max(int(interval_s), 1)
        metrics[field.decode()] = LiveMetric(value, ts, str(device_id), int(interval_s), stale)
        newest = ts if newest is None or ts > newest else newest
    if newest is None:
        return None
    return LiveState(kind, object_id, metrics, newest, all(m.stale for m in metrics.values()))


async def get_state(redis: Redis, kind: str, object_id: str, *, now: datetime | None = None) -> LiveState | None:
    """The live state of one object, or None when no device has reported on it (or a week passed)."""
    raw: dict[bytes, bytes] = await redis.hgetall(key(kind, object_id))  # type: ignore[misc]
    return _parse(kind, object_id, raw, now or datetime.now(UTC))


async def get_states(
    redis: Redis, kind: str, object_ids: Sequence[str], *, now: datetime | None = None
) -> dict[str, LiveState | None]:
    """The live states of many objects of one kind, read in one pipelined round trip."""
    if not object_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for object_id in object_ids:
            pipe.hgetall(key(kind, object_id))
        raws = await pipe.execute()
    at = now or datetime.now(UTC)
    return {oid: _parse(kind, oid, raw, at) for oid, raw in zip(object_ids, raws, strict=True)}


async def write(redis: Redis, kind: str, object_id: str, updates: Iterable[MetricUpdate]) -> int:
    """Record the newest values of an object's metrics (older ones than stored are ignored);
    returns how many fields changed."""
    args: list[Any] = [TTL_S]
    for u in updates:
        ts_ms = int(u.ts.timestamp() * 1000)
        args += [u.metric, ts_ms, msgspec.json.encode([ts_ms, u.interval_s, u.device_id, u.value])]
    if len(args) == 1:
        return 0
    script = redis.register_script(_WRITE)
    return int(await script(keys=[key(kind, object_id), CHANGED_CHANNEL], args=args))
