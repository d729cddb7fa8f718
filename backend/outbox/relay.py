"""Relay committed outbox messages to arq, and the job that carries one out.

Delivery is at-least-once end to end and exactly-once in effect:
- the relay enqueues with ``_job_id = "outbox:<id>"``, so arq refuses a second copy while the job
  is queued or its result is kept; a relay that crashed after enqueueing but before marking the
  row simply enqueues again and arq drops the duplicate;
- the job locks its message row and skips it when ``processed_at`` is set, so even a duplicate
  that slipped past arq does the work once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import ArqRedis, Retry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import transaction
from backend.models import OutboxMessage
from backend.outbox.service import get_handler

log = logging.getLogger("chengguan.outbox")

JOB_NAME = "process_outbox_message"
MAX_ATTEMPTS = 8


def job_id_for(message_id: uuid.UUID | str) -> str:
    return f"outbox:{message_id}"


def backoff(attempt: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempt - 1, 0), 300))


async def relay_pending(factory: async_sessionmaker[AsyncSession], arq: ArqRedis, *, limit: int = 500) -> int:
    """Hand every due, unrelayed message to arq; returns how many rows were relayed."""
    now = datetime.now(UTC)
    async with transaction(factory) as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.relayed_at.is_(None), OutboxMessage.available_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            await arq.enqueue_job(JOB_NAME, str(row.id), _job_id=job_id_for(row.id))
            row.relayed_at = now
    return len(rows)


async def process_message(factory: async_sessionmaker[AsyncSession], message_id: str) -> str:
    """Carry out one message in its own transaction. Returns what happened (for logs and tests);
    raises ``arq.Retry`` when the handler failed and attempts remain."""
    failure: BaseException | None = None
    attempts = 0
    async with transaction(factory) as session:
        message = await session.get(OutboxMessage, uuid.UUID(message_id), with_for_update=True)
        if message is None:
            return "missing"
        if message.processed_at is not None:
            return "already_processed"
        if message.dead:
            return "dead"
        fn = get_handler(message.topic)
        message.attempts += 1
        attempts = message.attempts
        if fn is None:
            message.dead = True
            message.last_error = f"no handler registered for topic {message.topic!r}"
            return "no_handler"
        try:
            async with session.begin_nested():
                await fn(session, dict(message.payload), message)
        except Exception as exc:
            failure = exc
            message.last_error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.dead = True
            log.warning("outbox message %s (%s) failed: %s", message_id, message.topic, message.last_error)
        else:
            message.processed_at = datetime.now(UTC)
            message.last_error = None
    if failure is None:
        return "processed"
    if attempts >= MAX_ATTEMPTS:
        return "dead"
    raise Retry(defer=backoff(attempts))


class Relayer:
    """Runs in every API and worker process: relays right after a commit that wrote outbox rows
    (woken by ``kick``), and every ``interval`` seconds for anything left behind by a crash."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], arq: ArqRedis, *, interval: float = 2.0) -> None:
        self.factory = factory
        self.arq = arq
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def kick(self, _flags: dict[str, Any] | None = None) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                while await relay_pending(self.factory, self.arq) > 0:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # a lost connection must not kill the loop; the next tick retries
                log.exception("outbox relay failed; retrying in %.1fs", self.interval)
