"""Migrations upgrade an empty database to head and downgrade it back to empty."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from backend.cli import downgrade_migrations, run_migrations
from backend.models import Base

DB = f"chengguan_migrations_{os.getpid()}"


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_upgrade_from_empty_and_downgrade_to_empty(services: dict[str, str]) -> None:
    admin = services["ADMIN_DSN"]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await conn.close()
    url = make_url(services["DATABASE_URL"]).set(database=DB).render_as_string(hide_password=False)
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    try:
        await asyncio.to_thread(run_migrations, url)
        tables = await _tables(dsn)
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        await asyncio.to_thread(downgrade_migrations, url, "base")
        assert await _tables(dsn) == {"alembic_version"}
        await asyncio.to_thread(run_migrations, url)  # and up again
        assert set(Base.metadata.tables) <= await _tables(dsn)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        finally:
            await conn.close()


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
