"""Helpers of the notification tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.models import OutboxMessage
from backend.outbox.relay import process_message

PROGRESS_TEMPLATE = "tmpl-case-progress"  # one 办理进度通知 template for every citizen event
SMS_TEMPLATES = {"case.accepted": "SMS_100001", "task.assigned": "SMS_100002", "case.rejected": "SMS_100003"}


async def run_outbox(factory: async_sessionmaker[AsyncSession]) -> int:
    """Carry out every unprocessed push message, due or not (the test is the clock), oldest first,
    until none is left; returns how many were carried out."""
    done = 0
    for _ in range(50):
        async with factory() as session:
            ids = (
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.processed_at.is_(None), OutboxMessage.dead.is_(False))
                    .where(OutboxMessage.topic.startswith("push."))
                    .order_by(OutboxMessage.id)
                )
            ).all()
        if not ids:
            return done
        for message_id in ids:
            await process_message(factory, str(message_id))
            done += 1
    raise AssertionError("push messages keep coming")
