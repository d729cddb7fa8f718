"""Readiness checks: each dependency answered, with how long it took or why it failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.storage import StorageService

CHECK_TIMEOUT_S = 2.0


async def _timed(check: Callable[[], Awaitable[object]]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


async def readiness(engine: AsyncEngine, redis: Redis, storage: StorageService) -> dict[str, dict[str, object]]:
    async def pg() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def rd() -> None:
        await redis.ping()

    results = await asyncio.gather(_timed(pg), _timed(rd), _timed(storage.ping))
    return dict(zip(("postgres", "redis", "s3"), results, strict=True))
