"""Engine, session factory and the one transaction scope.

Only the request boundary (``app/transactions.py``) and the job wrapper (``backend/jobs.py``) commit;
services ``flush``. After a commit that wrote outbox rows, the relay is woken (see ``backend/outbox``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from backend.settings import Settings


def asyncpg_url(url: str) -> str:
    """Accept the ``postgresql://`` form people paste and use the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    target = url or settings.db.url
    if target is None:
        raise RuntimeError("DATABASE_URL is not set and no embedded PostgreSQL was started")
    engine = create_async_engine(
        asyncpg_url(target),
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.pool_size,
        echo=settings.db.echo,
        connect_args={"server_settings": {"application_name": "chengguan", "timezone": "UTC"}},
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pessimistic disconnect handling without a round trip.

    SQLAlchemy's ``pool_pre_ping`` costs BEGIN, a ping and ROLLBACK — three round trips — at every
    checkout, more than the hottest requests spend on their own statements. A connection the server
    closed (restart, ``pg_terminate_backend``, idle timeout) is already known closed to asyncpg, whose
    protocol saw the socket end; such a connection is discarded here and the pool hands out a fresh
    one. A connection that dies mid-request still fails that request, and SQLAlchemy then invalidates
    every pooled connection older than the failure."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# Hooks run after a successful commit (the outbox relay registers one). They receive the flags
# the transaction left in ``session.info`` and must not raise.
_after_commit_hooks: list[Callable[[dict[str, object]], None]] = []


def on_after_commit(hook: Callable[[dict[str, object]], None]) -> None:
    if hook not in _after_commit_hooks:
        _after_commit_hooks.append(hook)


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    flags = dict(session.info)
    for key in [k for k in session.info if k.startswith("after_commit:")]:
        session.info.pop(key, None)
    if not any(k.startswith("after_commit:") for k in flags):
        return
    for hook in _after_commit_hooks:
        hook(flags)


@event.listens_for(Session, "after_rollback")
def _forget_flags_on_rollback(session: Session) -> None:
    for key in [k for k in session.info if k.startswith("after_commit:")]:
        session.info.pop(key, None)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def remove_after_commit(hook: Callable[[dict[str, object]], None]) -> None:
    if hook in _after_commit_hooks:
        _after_commit_hooks.remove(hook)
