"""Write outbox messages inside the caller's transaction, and the registry of their handlers.

A handler is ``async def (session, payload, message)``; it runs in the job's own transaction, so
whatever it writes commits together with the message being marked processed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import OutboxMessage, new_id

OUTBOX_FLAG = "after_commit:outbox"

Handler = Callable[[AsyncSession, dict[str, Any], OutboxMessage], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out messages of ``topic`` (one per topic)."""

    def register(fn: Handler) -> Handler:
        existing = _HANDLERS.get(topic)
        if existing is not None and existing is not fn and existing.__qualname__ != fn.__qualname__:
            raise RuntimeError(f"outbox topic {topic!r} already has a handler: {existing.__qualname__}")
        _HANDLERS[topic] = fn
        return fn

    return register


def get_handler(topic: str) -> Handler | None:
    return _HANDLERS.get(topic)


def registered_topics() -> list[str]:
    return sorted(_HANDLERS)


async def publish(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    dedup_key: str | None = None,
    delay: timedelta | None = None,
) -> bool:
    """Add a message to the outbox in the current transaction.

    Returns False when ``dedup_key`` was already used (the work is already promised), so callers
    can publish from code that may itself run twice.
    """
    now = datetime.now(UTC)
    stmt = (
        insert(OutboxMessage)
        .values(
            id=new_id(),
            topic=topic,
            payload=payload,
            dedup_key=dedup_key,
            created_at=now,
            available_at=now + (delay or timedelta(0)),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(OutboxMessage.id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none()
    if inserted is not None:
        session.info[OUTBOX_FLAG] = True
    return inserted is not None
