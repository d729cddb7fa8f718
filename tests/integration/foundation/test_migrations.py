"""Migrations upgrade an empty database to head and downgrade it back to empty; data migrations keep
what they promise."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from backend.cli import downgrade_migrations, run_migrations
from backend.models import Base, Case, CaseReporter, Category, CategoryMajor

DB = f"chengguan_migrations_{os.getpid()}"


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


@asynccontextmanager
async def _empty_database(services: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """A database of its own, dropped afterwards: (SQLAlchemy URL, asyncpg DSN)."""
    admin = services["ADMIN_DSN"]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await conn.close()
    url = make_url(services["DATABASE_URL"]).set(database=DB).render_as_string(hide_password=False)
    try:
        yield url, url.replace("postgresql+asyncpg", "postgresql")
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_upgrade_from_empty_and_downgrade_to_empty(services: dict[str, str]) -> None:
    async with _empty_database(services) as (url, dsn):
        await asyncio.to_thread(run_migrations, url)
        tables = await _tables(dsn)
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        await asyncio.to_thread(downgrade_migrations, url, "base")
        assert await _tables(dsn) == {"alembic_version"}
        await asyncio.to_thread(run_migrations, url)  # and up again
        assert set(Base.metadata.tables) <= await _tables(dsn)


async def test_the_reporter_index_migration_keeps_the_earliest_of_each_duplicate(services: dict[str, str]) -> None:
    """Reporters recorded twice before the unique index (a racing "me too", a merge) are one row after it;
    anonymous phone callers (no reporter id) are not merged."""
    async with _empty_database(services) as (url, dsn):
        await asyncio.to_thread(run_migrations, url)
        await asyncio.to_thread(downgrade_migrations, url, "0900_case_reporters_unique-1")
        case_id, t0 = uuid.uuid4(), datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        rows = [  # (id, kind, reporter id, created_at)
            (uuid.uuid4(), "citizen", "alice", t0 + timedelta(minutes=5)),
            (uuid.uuid4(), "citizen", "alice", t0),  # the earliest alice stays
            (uuid.uuid4(), "citizen", "alice", t0 + timedelta(minutes=9)),
            (uuid.uuid4(), "citizen", "bob", t0 + timedelta(minutes=1)),
            (uuid.uuid4(), "phone", None, t0),
            (uuid.uuid4(), "phone", None, t0),
        ]
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:  # the model's tables fill in the columns' defaults
                await conn.execute(insert(CategoryMajor).values(kind="event", code="01", name="市容环境"))
                await conn.execute(
                    insert(Category).values(
                        code="E0101", kind="event", major_code="01", name="暴露垃圾", time_limits={}
                    )
                )
                await conn.execute(
                    insert(Case).values(id=case_id, number="202611200001", source="citizen", category_code="E0101",
                                        state="reported", lat=30.87, lng=114.76, cell=0, reporter_kind="citizen")
                )  # fmt: skip
                await conn.execute(
                    insert(CaseReporter),
                    [
                        {"id": rid, "case_id": case_id, "reporter_kind": kind, "reporter_id": who,
                         "original_case_id": case_id, "created_at": at}
                        for rid, kind, who, at in rows
                    ],
                )  # fmt: skip
        finally:
            await engine.dispose()

        await asyncio.to_thread(run_migrations, url)
        conn = await asyncpg.connect(dsn)
        try:
            kept = {r["id"] for r in await conn.fetch("SELECT id FROM case_reporters")}
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    "INSERT INTO case_reporters (id, case_id, reporter_kind, reporter_id, original_case_id) "
                    "VALUES ($1, $2, 'citizen', 'bob', $2)",
                    uuid.uuid4(),
                    case_id,
                )
        finally:
            await conn.close()
        assert kept == {rows[1][0], rows[3][0], rows[4][0], rows[5][0]}


async def test_models_and_migrations_agree(engine: Any) -> None:
    """A model change without a migration fails here (alembic autogenerate finds a diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
