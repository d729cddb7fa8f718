"""Outbox handlers of the notification service (imported by the worker, see ``backend/worker.py``).

- ``push.deliver`` {"notification_id"}: send one notification through its channel's provider.
- ``push.notify`` {"event", "recipients", "data", "dedup_key", "urgent"}: ``notify`` on behalf of code in
  ``backend/`` that may not import ``push`` (build the payload with ``push.service.notify_payload``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import push.case_events  # noqa: F401  (registers the case.event and case.light handlers)
from backend.models import OutboxMessage
from backend.outbox import handler
from push.providers import get_providers
from push.service import DELIVER_TOPIC, NOTIFY_TOPIC, Recipient, deliver, notify


@handler(DELIVER_TOPIC)
async def deliver_notification(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    await deliver(session, uuid.UUID(payload["notification_id"]), get_providers())


@handler(NOTIFY_TOPIC)
async def notify_from_outbox(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    await notify(
        session,
        payload["event"],
        [Recipient.from_json(r) for r in payload["recipients"]],
        payload["data"],
        payload["dedup_key"],
        urgent=payload.get("urgent"),
    )
