"""A pooled connection the server closed is replaced at checkout, without a ping round trip; a deadlock
between two requests is a 409 to retry."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
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


async def test_a_deadlock_is_answered_409_try_again_not_500(engine: Any) -> None:
    """Two transactions locking two rows in opposite orders: PostgreSQL aborts one (40P01); the API
    answers it as a conflict to retry, with nothing saved."""
    from sqlalchemy.exc import DBAPIError

    from app.errors import handle_exception

    async with engine.begin() as setup:
        await setup.execute(text("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, n int)"))
        await setup.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING"))
    first_locked, second_locked = asyncio.Event(), asyncio.Event()

    async def writer(mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": mine})
            locked.set()
            await other.wait()
            await conn.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": theirs})

    try:
        outcomes = await asyncio.gather(
            writer(1, 2, first_locked, second_locked), writer(2, 1, second_locked, first_locked), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failures) == 1 and isinstance(failures[0], DBAPIError)
        response = handle_exception(SimpleNamespace(method="POST", url=SimpleNamespace(path="/x")), failures[0])  # type: ignore[arg-type]
        assert response.status_code == 409 and response.headers["Retry-After"] == "1"
        assert response.content["error"]["code"] == "concurrent_update"
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(text("DROP TABLE deadlock_probe"))
