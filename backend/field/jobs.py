"""Background work of field tasks (registered in ``backend/worker.py``).

- outbox ``case.field_task`` {"case_id", "state", "stage_seq"}: give the 核实/核查 task to a collector
  (``backend.field.tasks.route_field_task``) — after the commit that moved the case, with the live
  positions in Redis;
- daily, and at worker start: the month partitions of ``patrol_tracks`` ahead of time;
- daily: forget client-write receipts older than the offline window's worth of retries (30 days).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import cron
from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.service import FIELD_TASK_TOPIC
from backend.db import transaction
from backend.field.partitions import TrackPartitions
from backend.field.tasks import route_field_task
from backend.models import FieldClientOp, OutboxMessage
from backend.outbox import handler
from backend.redis import create_redis
from backend.settings import get_settings

RECEIPTS_KEPT = timedelta(days=30)
_redis: Redis | None = None


def _live_redis() -> Redis:
    """This process's Redis for the live positions (an outbox handler gets no runtime)."""
    global _redis
    if _redis is None:
        url = get_settings().redis.url
        if url is None:
            raise RuntimeError("REDIS_URL is not set")
        _redis = create_redis(url)
    return _redis


@handler(FIELD_TASK_TOPIC)
async def route_field_task_job(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    await route_field_task(
        session, _live_redis(), uuid.UUID(payload["case_id"]), expected_stage_seq=payload.get("stage_seq")
    )


async def prepare_track_partitions(ctx: dict[str, Any]) -> list[str]:
    runtime = ctx["runtime"]
    created = await TrackPartitions(runtime.engine).prepare()
    return [f"{m:%Y-%m}" for m in created]


async def forget_old_receipts(ctx: dict[str, Any]) -> int:
    runtime = ctx["runtime"]
    async with transaction(runtime.session_factory) as session:
        result = await session.execute(
            delete(FieldClientOp).where(FieldClientOp.applied_at < datetime.now(UTC) - RECEIPTS_KEPT)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


CRON_JOBS = [
    cron(prepare_track_partitions, hour={3}, minute={17}, second={0}, run_at_startup=True, unique=True, timeout=300),
    cron(forget_old_receipts, hour={3}, minute={41}, second={0}, unique=True, timeout=300),
]
