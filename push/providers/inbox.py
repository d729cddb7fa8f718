"""The field-app inbox and the admin-console alerts: a row in ``inbox_items`` and a live message to
the staff member's connected clients (published after the job's commit, see ``push.live``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import InboxItem, Notification, new_id
from push import live
from push.enums import Box, Channel
from push.inbox import item_payload, unread_count
from push.providers.base import ChannelProvider, Outcome, PermanentError, Sent


class InboxProvider(ChannelProvider):
    """Writes to the field-app inbox of the staff member in ``notification.address``."""

    channel = Channel.INBOX
    box = Box.FIELD

    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis

    async def send(self, session: AsyncSession, notification: Notification, now: datetime) -> Outcome:
        try:
            staff_id = uuid.UUID(notification.address)
        except ValueError:
            raise PermanentError(f"not a staff id: {notification.address!r}") from None
        item = InboxItem(
            id=new_id(),
            staff_id=staff_id,
            box=self.box,
            notification_id=notification.id,
            event=notification.event,
            title=notification.title,
            body=notification.body,
            data=notification.data,
            urgent=notification.urgent,
            created_at=now,
        )
        session.add(item)
        await session.flush()
        if self.redis is not None:
            message = {
                "type": "item",
                "item": item_payload(item),
                "unread_count": await unread_count(session, staff_id, self.box),
            }
            live.publish_after_commit(session, self.redis, live.channel_for(self.box, staff_id), message)
        return Sent(str(item.id), notification.event)


class ConsoleProvider(InboxProvider):
    """Admin-console alerts of the staff member on duty: the same table (``box='console'``), its own stream."""

    channel = Channel.CONSOLE
    box = Box.CONSOLE
