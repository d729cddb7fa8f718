"""Live delivery to connected clients: Redis pub/sub fanned out to Server-Sent Event streams.

Whoever writes an inbox item (the worker, usually) publishes it on ``push:live:<box>:<staff id>``
*after its transaction commits*, so a client never hears of an item it cannot read yet. Every API
process holds one pattern subscription (``push:live:*``) per Redis client, started with its first
stream and stopped with its last, and hands each message to the streams of that staff member that
are connected to it — so a client reaches the worker through whichever process it happens to be on.

The stream is a hint; the database is the truth. A client that reconnects sends ``Last-Event-ID``
and gets what it missed from the table; a client too slow to keep up, or connected while Redis was
unreachable, gets ``event: resync`` and should reload its list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from weakref import WeakKeyDictionary

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import on_after_commit
from push.rules import push_logger

log = push_logger("chengguan.push.live")

PATTERN = "push:live:*"
LIVE_FLAG = "after_commit:push_live"
QUEUE_SIZE = 256
KEEPALIVE_S = 15.0
RETRY_MS = 3000
RESYNC = b"\x00resync"


def channel_for(box: str, staff_id: Any) -> str:
    return f"push:live:{box}:{staff_id}"


def publish_after_commit(session: AsyncSession, redis: Redis, channel: str, message: dict[str, Any]) -> None:
    """Publish ``message`` on ``channel`` once the session's transaction has committed (never if it rolls back)."""
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    session.info.setdefault(LIVE_FLAG, []).append((redis, channel, data))


_in_flight: set[asyncio.Task[None]] = set()


async def _publish(messages: list[tuple[Redis, str, bytes]]) -> None:
    for redis, channel, data in messages:
        try:
            await redis.publish(channel, data)
        except Exception as exc:  # the item is in the table; the client sees it on its next load
            log.warning("live publish on %s failed: %s", channel, exc)


def _after_commit(flags: dict[str, object]) -> None:
    messages = flags.get(LIVE_FLAG)
    if not isinstance(messages, list) or not messages:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a synchronous commit outside any loop: nobody to tell
        return
    task = loop.create_task(_publish(list(messages)))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


on_after_commit(_after_commit)


async def drain() -> None:
    """Wait for publishes scheduled by commits so far (tests, and a worker shutting down)."""
    while _in_flight:
        await asyncio.gather(*list(_in_flight), return_exceptions=True)


class LiveHub:
    """One Redis pattern subscription shared by every stream connected to this process."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queues: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._lock = asyncio.Lock()
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue receiving every message published on ``channel`` from the moment this returns."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_SIZE)
        async with self._lock:
            self._queues.setdefault(channel, set()).add(queue)
            if self._task is None:
                try:
                    await self._start()
                except BaseException:
                    self._queues[channel].discard(queue)
                    raise
        try:
            yield queue
        finally:
            async with self._lock:
                listeners = self._queues.get(channel, set())
                listeners.discard(queue)
                if not listeners:
                    self._queues.pop(channel, None)
                if not self._queues:
                    await self._stop()

    async def _start(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe(PATTERN)
        # Only once Redis confirms the subscription is a message published "after connecting" ours.
        async with asyncio.timeout(5):
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message and message["type"] == "psubscribe":
                    break
        self._pubsub = pubsub
        self._task = asyncio.create_task(self._run(), name="push-live-hub")

    async def _stop(self) -> None:
        task, pubsub = self._task, self._pubsub
        self._task = self._pubsub = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _run(self) -> None:
        broken = False
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not broken:
                    log.warning("live subscription lost (%s); reconnecting", exc)
                broken = True
                await asyncio.sleep(1.0)
                continue
            if broken:  # whatever was published meanwhile is lost to the streams: they must reload
                broken = False
                for channel in list(self._queues):
                    self._dispatch(channel, RESYNC)
            if message is not None and message["type"] == "pmessage":
                channel = message["channel"]
                self._dispatch(channel.decode() if isinstance(channel, bytes) else channel, message["data"])

    def _dispatch(self, channel: str, data: bytes) -> None:
        for queue in list(self._queues.get(channel, ())):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # a stream that cannot keep up reloads instead of lagging forever
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)


_hubs: WeakKeyDictionary[Redis, LiveHub] = WeakKeyDictionary()


def hub_for(redis: Redis) -> LiveHub:
    hub = _hubs.get(redis)
    if hub is None:
        hub = _hubs[redis] = LiveHub(redis)
    return hub


def frame(event: str, data: Any, *, event_id: str | None = None, retry_ms: int | None = None) -> bytes:
    """One Server-Sent Event."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


Backlog = Callable[[], Awaitable[tuple[list[dict[str, Any]], int]]]


async def event_stream(
    hub: LiveHub, channel: str, item_event: str, backlog: Backlog, *, keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[bytes]:
    """The SSE body of one connected client: ``ready`` (with the unread count), then what it missed
    (``backlog``: items after its Last-Event-ID), then live items as ``item_event`` and ``read`` events,
    with a comment every ``keepalive_s`` so proxies keep the connection and dead clients are noticed."""
    async with hub.listen(channel) as queue:
        missed, unread = await backlog()  # after subscribing, so nothing falls between the two
        yield frame("ready", {"unread_count": unread}, retry_ms=RETRY_MS)
        seen = set()
        for item in missed:
            seen.add(item["id"])
            yield frame(item_event, item, event_id=item["id"])
        while True:
            try:
                raw = await asyncio.wait_for(queue.get(), keepalive_s)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if raw == RESYNC:
                yield frame("resync", {})
                return
            message = json.loads(raw)
            if message.get("type") == "item":
                item = message["item"]
                if item["id"] in seen:
                    continue
                yield frame(item_event, {**item, "unread_count": message["unread_count"]}, event_id=item["id"])
            elif message.get("type") == "read":
                yield frame("read", {"ids": message["ids"], "unread_count": message["unread_count"]})
