"""Redis client and arq pool construction from settings."""

from __future__ import annotations

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings as ArqRedisSettings
from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=False, socket_connect_timeout=2, socket_timeout=5)


def arq_settings(url: str) -> ArqRedisSettings:
    return ArqRedisSettings.from_dsn(url)


async def create_arq(url: str) -> ArqRedis:
    return await create_pool(arq_settings(url))
