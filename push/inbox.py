"""A staff member's inbox — the field app's (``box='field'``) or the admin console's alerts
(``box='console'``): the list, read marks, the unread count and the live stream.

Ids are UUIDv7, so "newer" is "greater id": the list pages backwards by id and the stream's
``Last-Event-ID`` replays forwards from one.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.errors import NotFound, ValidationFailed
from backend.models import InboxItem
from push import live
from push.enums import Box

MAX_LIMIT = 100
REPLAY_LIMIT = 100
ITEM_EVENT = {Box.FIELD: "inbox", Box.CONSOLE: "alert"}


@dataclass(frozen=True)
class InboxPage:
    items: Sequence[InboxItem]
    next_cursor: str | None
    unread_count: int


def item_payload(item: InboxItem) -> dict[str, Any]:
    """The JSON an item travels as on the live stream (same fields as the API's ``InboxItemOut``)."""
    return {
        "id": str(item.id),
        "event": item.event,
        "title": item.title,
        "body": item.body,
        "data": item.data,
        "urgent": item.urgent,
        "created_at": item.created_at.isoformat(),
        "read_at": item.read_at.isoformat() if item.read_at else None,
    }


def _encode_cursor(item_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(item_id.bytes).decode().rstrip("=")


def _decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ValidationFailed("invalid cursor", code="invalid_cursor") from None


async def unread_count(session: AsyncSession, staff_id: uuid.UUID, box: Box) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(InboxItem)
            .where(InboxItem.staff_id == staff_id, InboxItem.box == box, InboxItem.read_at.is_(None))
        )
        or 0
    )


async def list_items(
    session: AsyncSession,
    staff_id: uuid.UUID,
    box: Box,
    *,
    limit: int = 20,
    cursor: str | None = None,
    unread_only: bool = False,
) -> InboxPage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    limit = max(1, min(limit, MAX_LIMIT))
    query = select(InboxItem).where(InboxItem.staff_id == staff_id, InboxItem.box == box)
    if unread_only:
        query = query.where(InboxItem.read_at.is_(None))
    if cursor:
        query = query.where(InboxItem.id < _decode_cursor(cursor))
    rows = (await session.scalars(query.order_by(InboxItem.id.desc()).limit(limit + 1))).all()
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return InboxPage(rows[:limit], next_cursor, await unread_count(session, staff_id, box))


async def mark_read(
    session: AsyncSession, redis: Redis | None, staff_id: uuid.UUID, box: Box, item_id: uuid.UUID
) -> InboxItem:
    """Mark one of the caller's items read (again is fine); the caller's other devices hear of it."""
    item = await session.scalar(
        select(InboxItem).where(InboxItem.id == item_id, InboxItem.staff_id == staff_id, InboxItem.box == box)
    )
    if item is None:
        raise NotFound("no such inbox item", code="inbox_item_not_found")
    if item.read_at is None:
        item.read_at = datetime.now(UTC)
        await session.flush()
        if redis is not None:
            count = await unread_count(session, staff_id, box)
            message = {"type": "read", "ids": [str(item.id)], "unread_count": count}
            live.publish_after_commit(session, redis, live.channel_for(box, staff_id), message)
    return item


async def mark_all_read(session: AsyncSession, redis: Redis | None, staff_id: uuid.UUID, box: Box) -> int:
    result = await session.execute(
        update(InboxItem)
        .where(InboxItem.staff_id == staff_id, InboxItem.box == box, InboxItem.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
        .returning(InboxItem.id)
    )
    ids = [str(i) for i in result.scalars()]
    if ids and redis is not None:
        message = {"type": "read", "ids": ids, "unread_count": 0}
        live.publish_after_commit(session, redis, live.channel_for(box, staff_id), message)
    return len(ids)


async def missed_since(
    session: AsyncSession, staff_id: uuid.UUID, box: Box, last_event_id: str | None
) -> tuple[list[dict[str, Any]], int]:
    """Items after ``last_event_id`` (oldest first, at most ``REPLAY_LIMIT``) and the unread count."""
    missed: list[dict[str, Any]] = []
    after = _parse_event_id(last_event_id)
    if after is not None:
        rows = (
            await session.scalars(
                select(InboxItem)
                .where(InboxItem.staff_id == staff_id, InboxItem.box == box, InboxItem.id > after)
                .order_by(InboxItem.id)
                .limit(REPLAY_LIMIT)
            )
        ).all()
        missed = [item_payload(row) for row in rows]
    return missed, await unread_count(session, staff_id, box)


def _parse_event_id(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def stream(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, staff_id: uuid.UUID, box: Box, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """The Server-Sent Events body for one connected client of ``staff_id``'s ``box``.

    It uses a session of its own for the replay: the request's session is closed once the response starts.
    """

    async def backlog() -> tuple[list[dict[str, Any]], int]:
        async with sessions() as session:
            return await missed_since(session, staff_id, box, last_event_id)

    return live.event_stream(live.hub_for(redis), live.channel_for(box, staff_id), ITEM_EVENT[box], backlog)
