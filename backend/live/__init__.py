"""Live state of watched objects (toilets, parking spaces, bins, …) from device readings, in Redis.

Read API for the citizen views::

    from backend import live
    state = await live.get_state(redis, "toilet", toilet_id)          # LiveState | None
    states = await live.get_states(redis, "parking_space", space_ids)  # {id: LiveState | None}, pipelined
    state.metrics["free_stalls"].value, state.metrics["free_stalls"].stale, state.live_values()

Device ingest is the only writer (``write``).
"""

from backend.live.store import (
    CHANGED_CHANNEL,
    STALE_INTERVALS,
    LiveMetric,
    LiveState,
    MetricUpdate,
    get_state,
    get_states,
    key,
    parse_key,
    write,
)

__all__ = [
    "CHANGED_CHANNEL",
    "STALE_INTERVALS",
    "LiveMetric",
    "LiveState",
    "MetricUpdate",
    "get_state",
    "get_states",
    "key",
    "parse_key",
    "write",
]
