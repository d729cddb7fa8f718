"""The transactional outbox: written with the business transaction, relayed to arq after commit,
enqueued once however often the relay runs, carried out once however often the job runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from arq import Retry
from arq.jobs import Job, JobStatus
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import create_session_factory, transaction
from backend.models import OutboxMessage
from backend.outbox import handler, publish
from backend.outbox.relay import MAX_ATTEMPTS, job_id_for, process_message, relay_pending

CALLS: list[dict[str, Any]] = []


@handler("test.record")
async def record(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    CALLS.append(payload)
    # The handler's own writes commit together with the message being marked processed.
    await session.execute(text("SELECT 1"))


@handler("test.fail")
async def always_fail(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    raise RuntimeError("provider unavailable")


@pytest.fixture
async def factory(engine: Any, redis: Any) -> Any:
    """Real commits (the relay must see them); every outbox row is removed afterwards."""
    CALLS.clear()
    f = create_session_factory(engine)
    yield f
    async with transaction(f) as s:
        await s.execute(delete(OutboxMessage).where(OutboxMessage.topic.like("test.%")))


async def _queued(arq: Any) -> list[str]:
    return [j.job_id for j in await arq.queued_jobs()]


async def test_message_commits_with_its_transaction_and_vanishes_on_rollback(factory: Any) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(factory) as s:
            await publish(s, "test.record", {"n": 1}, dedup_key="rb-1")
            raise RuntimeError("business rule failed after publishing")
    async with factory() as s:
        assert await s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "rb-1")) is None


async def test_dedup_key_publishes_once(factory: Any) -> None:
    async with transaction(factory) as s:
        assert await publish(s, "test.record", {"n": 1}, dedup_key="same") is True
    async with transaction(factory) as s:
        assert await publish(s, "test.record", {"n": 2}, dedup_key="same") is False
    async with factory() as s:
        rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key == "same"))).all()
    assert len(rows) == 1 and rows[0].payload == {"n": 1}


async def test_commit_wakes_the_relay_which_enqueues_the_job(factory: Any, runtime: Any) -> None:
    async with transaction(factory) as s:
        await publish(s, "test.record", {"n": 1}, dedup_key="kick-1")
        message_id = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == "kick-1"))
    assert message_id is not None
    for _ in range(100):  # the app's relayer was kicked by the commit; it runs in this loop
        if job_id_for(message_id) in await _queued(runtime.arq):
            break
        await asyncio.sleep(0.02)
    assert job_id_for(message_id) in await _queued(runtime.arq)
    async with factory() as s:
        assert (await s.get(OutboxMessage, message_id)).relayed_at is not None  # type: ignore[union-attr]


async def test_relay_after_crash_between_commit_and_enqueue(factory: Any, runtime: Any) -> None:
    # A crash right after commit: the row is there, nothing was enqueued, no kick will come.
    runtime.relayer._loop = None  # the kick from this commit is lost
    try:
        async with transaction(factory) as s:
            await publish(s, "test.record", {"n": 7}, dedup_key="crash-1")
    finally:
        runtime.relayer._loop = asyncio.get_running_loop()
    async with factory() as s:
        message = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "crash-1"))
    assert message is not None and message.relayed_at is None
    await runtime.redis.flushdb()
    assert await relay_pending(factory, runtime.arq) >= 1
    assert await _queued(runtime.arq) == [job_id_for(message.id)]


async def test_relay_that_runs_twice_enqueues_once(factory: Any, runtime: Any) -> None:
    runtime.relayer._loop = None
    try:
        async with transaction(factory) as s:
            await publish(s, "test.record", {"n": 3}, dedup_key="twice-1")
    finally:
        runtime.relayer._loop = asyncio.get_running_loop()
    async with factory() as s:
        message = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "twice-1"))
    assert message is not None
    await runtime.redis.flushdb()
    # The first relay enqueued and then crashed before marking the row: simulate by enqueueing by hand.
    first = await runtime.arq.enqueue_job("process_outbox_message", str(message.id), _job_id=job_id_for(message.id))
    assert first is not None
    await relay_pending(factory, runtime.arq)
    await relay_pending(factory, runtime.arq)
    assert await _queued(runtime.arq) == [job_id_for(message.id)]
    status = await Job(job_id_for(message.id), runtime.arq).status()
    assert status == JobStatus.queued


async def test_job_that_runs_twice_does_its_work_once(factory: Any) -> None:
    async with transaction(factory) as s:
        await publish(s, "test.record", {"n": 42}, dedup_key="once-1")
        message_id = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == "once-1"))
    assert await process_message(factory, str(message_id)) == "processed"
    assert await process_message(factory, str(message_id)) == "already_processed"
    assert CALLS == [{"n": 42}]


async def test_failing_handler_is_retried_with_backoff_then_dead_lettered(factory: Any) -> None:
    async with transaction(factory) as s:
        await publish(s, "test.fail", {}, dedup_key="fail-1")
        message_id = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == "fail-1"))
    delays = []
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(Retry) as retry:
            await process_message(factory, str(message_id))
        assert retry.value.defer_score is not None
        delays.append(retry.value.defer_score)
    assert delays == sorted(delays) and delays[0] < delays[-1], "backoff grows"
    assert await process_message(factory, str(message_id)) == "dead"
    assert await process_message(factory, str(message_id)) == "dead"
    async with factory() as s:
        message = await s.get(OutboxMessage, message_id)
    assert message is not None and message.dead and message.attempts == MAX_ATTEMPTS
    assert "provider unavailable" in (message.last_error or "")


async def test_unknown_topic_is_dead_lettered(factory: Any) -> None:
    async with transaction(factory) as s:
        await publish(s, "test.nobody-listens", {}, dedup_key="nobody-1")
        message_id = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == "nobody-1"))
    assert await process_message(factory, str(message_id)) == "no_handler"
    assert await process_message(factory, str(uuid.uuid4())) == "missing"


async def test_real_worker_carries_out_a_relayed_message(factory: Any, runtime: Any, settings: Any) -> None:
    from arq.worker import Worker

    from backend.redis import arq_settings
    from backend.worker import WorkerSettings

    await runtime.redis.flushdb()
    runtime.relayer._loop = None
    try:
        async with transaction(factory) as s:
            await publish(s, "test.record", {"n": 99}, dedup_key="worker-1")
    finally:
        runtime.relayer._loop = asyncio.get_running_loop()
    await relay_pending(factory, runtime.arq)
    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=arq_settings(settings.redis.url),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_complete == 1
    assert CALLS == [{"n": 99}]
