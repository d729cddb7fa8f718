"""Notifications (DESIGN §8): one service, four channels behind one interface, fed by the outbox.

    from push import Recipient, notify, events
    await notify(session, events.CASE_ACCEPTED, [Recipient.citizen(openid, phone)],
                 {"case_no": case.number, "case_id": case.id, "summary": "井盖缺失"}, dedup_key=f"case:{event.id}")

Events and their Chinese texts are in ``push.templates``; channel providers in ``push.providers``; the
outbox handlers in ``push.jobs``; the staff inbox (list, read, live stream) in ``push.inbox``.
"""

from push import templates as events
from push.enums import Box, Channel, RecipientKind, Status
from push.service import (
    DELIVER_TOPIC,
    NOTIFY_TOPIC,
    Recipient,
    deliver,
    notify,
    notify_later,
    notify_payload,
    preferences,
    record_subscriptions,
    set_preferences,
    subscribe_template_ids,
)

__all__ = [
    "DELIVER_TOPIC",
    "NOTIFY_TOPIC",
    "Box",
    "Channel",
    "Recipient",
    "RecipientKind",
    "Status",
    "deliver",
    "events",
    "notify",
    "notify_later",
    "notify_payload",
    "preferences",
    "record_subscriptions",
    "set_preferences",
    "subscribe_template_ids",
]
