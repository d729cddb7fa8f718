"""A pooled connection the server closed is replaced at checkout, without a ping round trip."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
from sqlalchemy import text

from backend.db import asyncpg_url, create_engine


def _admin_dsn(settings: Any) -> str:
    return asyncpg_url(settings.db.url).replace("postgresql+asyncpg://", "postgresql://")


async def test_a_connection_killed_while_pooled_is_replaced_and_the_next_transaction_succeeds(settings: Any) -> None:
    engine = create_engine(dataclasses.replace(settings, db=dataclasses.replace(settings.db, pool_size=1)))
    statements: list[str] = []
    try:
        async with engine.connect() as conn:
            first_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(_admin_dsn(settings))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first_pid) is True
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the pooled connection's socket sees the server hang up

        from sqlalchemy import event

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        async with engine.begin() as conn:
            second_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second_pid != first_pid
        assert statements == ["SELECT pg_backend_pid()"]  # no ping: checkout cost no statement
    finally:
        await engine.dispose()


async def test_a_live_pooled_connection_is_reused_without_a_ping(settings: Any) -> None:
    engine = create_engine(dataclasses.replace(settings, db=dataclasses.replace(settings.db, pool_size=1)))
    try:
        pids = []
        for _ in range(3):
            async with engine.begin() as conn:
                pids.append((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        assert len(set(pids)) == 1
    finally:
        await engine.dispose()
