"""The long-lived resources of one process (API or worker): engine, sessions, Redis, arq, storage.

Built once at start-up from settings and closed at shutdown; handlers and jobs receive it, never
build their own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from arq import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.cases import numbers as case_numbers
from backend.db import create_engine, create_session_factory, on_after_commit, remove_after_commit
from backend.outbox.relay import Relayer
from backend.redis import create_arq, create_redis
from backend.settings import Settings
from backend.storage import StorageService


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    arq: ArqRedis
    storage: StorageService
    relayer: Relayer | None = None

    @classmethod
    async def start(cls, settings: Settings, *, relay: bool = True) -> Runtime:
        if settings.db.url is None or settings.redis.url is None or settings.storage.endpoint is None:
            raise RuntimeError(
                "DATABASE_URL, REDIS_URL and S3_ENDPOINT must be set by now: "
                "`chengguan dev` starts embedded services and sets them for you"
            )
        engine = create_engine(settings)
        redis = create_redis(settings.redis.url)
        arq = await create_arq(settings.redis.url)
        storage = StorageService(settings.storage)
        with contextlib.suppress(Exception):  # /readyz reports a store that is down; start anyway
            await storage.ensure_bucket()
        runtime = cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=redis,
            arq=arq,
            storage=storage,
        )
        # Case numbers from Redis: intake then holds no counter-row lock until commit.
        case_numbers.use_redis(redis)
        if relay:
            runtime.relayer = Relayer(runtime.session_factory, arq)
            runtime.relayer.start()
            on_after_commit(runtime.relayer.kick)
        return runtime

    async def close(self) -> None:
        case_numbers.use_redis(None)
        if self.relayer is not None:
            remove_after_commit(self.relayer.kick)
            await self.relayer.stop()
        await self.arq.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
