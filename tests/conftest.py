"""Test harness: the real embedded PostgreSQL, Valkey and S3 server, started once per session.

When DATABASE_URL / REDIS_URL / S3_ENDPOINT are set, those services are used instead (a fresh
``chengguan_test`` database is still created on that PostgreSQL server).

Each test that takes ``db`` or ``client`` runs inside a transaction that is rolled back at the
end: services and request handlers commit to a savepoint, so tests stay independent and fast.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(os.environ.get("CHENGGUAN_TEST_DATA_DIR", ROOT / ".data" / "test"))
# One database (and Redis db number) per test session, so two sessions on one machine — a developer's
# and a helper's — can share the embedded servers without trampling each other.
TEST_DB = f"chengguan_test_{os.getpid()}"
REDIS_DB = os.getpid() % 15 + 1

# Settings are read from the environment; make the test run's settings explicit and quiet.
os.environ["CHENGGUAN_ENV"] = "test"
os.environ.setdefault("LOG_LEVEL", "warning")
os.environ.setdefault("CHENGGUAN_DATA_DIR", str(TEST_DATA))


def _pg_admin_dsn(url: str) -> tuple[str, str]:
    """(asyncpg DSN of the server's ``postgres`` database, URL of the test database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql+asyncpg", "postgresql"))
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    test = parsed.set(database=TEST_DB, drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    return admin, test


def _recreate_database(admin_dsn: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())


def _drop_database(admin_dsn: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """Start what is not configured; export the URLs; stop what we started at the end."""
    from backend.embedded import EmbeddedServices, free_port

    # Servers of our own per session (their data removed at the end): sessions running side by side
    # on one machine never share or stop each other's servers.
    embedded = EmbeddedServices(
        TEST_DATA / f"services-{os.getpid()}",
        pg_port=free_port(),
        redis_port=free_port(),
        s3_port=free_port(),
        want_db=not os.environ.get("DATABASE_URL"),
        want_redis=not os.environ.get("REDIS_URL"),
        want_s3=not os.environ.get("S3_ENDPOINT"),
    )
    env = embedded.start()
    if "REDIS_URL" in env:
        env["REDIS_URL"] = env["REDIS_URL"].rsplit("/", 1)[0] + f"/{REDIS_DB}"
    os.environ.update(env)
    admin_dsn, test_url = _pg_admin_dsn(os.environ["DATABASE_URL"])
    _recreate_database(admin_dsn, TEST_DB)
    os.environ["DATABASE_URL"] = test_url
    os.environ["CHENGGUAN_TEST_ADMIN_DSN"] = admin_dsn

    from backend.settings import reset_settings_cache

    reset_settings_cache()
    from backend.cli import run_migrations

    run_migrations(test_url)
    try:
        yield {**env, "DATABASE_URL": test_url, "ADMIN_DSN": admin_dsn}
    finally:
        _drop_database(admin_dsn, TEST_DB)
        embedded.remove_data()


@pytest.fixture(scope="session")
def settings(services: dict[str, str]) -> Any:
    from backend.settings import get_settings

    return get_settings()


@pytest.fixture(scope="session")
async def seeded(settings: Any) -> bool:
    from backend.seed.demo import seed_demo

    await seed_demo(settings)
    return True


@pytest.fixture(scope="session")
async def engine(settings: Any) -> AsyncIterator[AsyncEngine]:
    from backend.db import create_engine

    eng = create_engine(settings)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine, seeded: bool) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            if trans.is_active:
                await trans.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions that commit to a savepoint of the test's outer transaction."""
    return async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
async def db(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
async def asgi_app(settings: Any, seeded: bool) -> AsyncIterator[Any]:
    """The served application (API + admin), started once with its lifespan."""
    from app.main import create_asgi

    application = create_asgi(settings)
    async with LifespanManager(application.litestar) as manager:  # type: ignore[attr-defined]
        del manager
        yield application


@pytest.fixture
def runtime(asgi_app: Any) -> Any:
    return asgi_app.litestar.state.runtime


@pytest.fixture
async def redis(runtime: Any) -> AsyncIterator[Any]:
    await runtime.redis.flushdb()
    yield runtime.redis


@pytest.fixture
async def client(
    asgi_app: Any, runtime: Any, redis: Any, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests run inside the test's rolled-back transaction."""
    real = runtime.session_factory
    runtime.session_factory = session_factory
    try:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    finally:
        runtime.session_factory = real


@pytest.fixture
async def live_client(asgi_app: Any, redis: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests really commit (for concurrency and relay tests); the test
    cleans up what it wrote."""
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
