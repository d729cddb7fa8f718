"""Names shared across the notification service: channels, statuses, recipient kinds, inbox boxes."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """How a notification travels."""

    WECHAT = "wechat"  # 小程序订阅消息 — citizens
    SMS = "sms"  # 短信 — citizens and staff
    INBOX = "inbox"  # the field app's inbox + live stream — staff
    CONSOLE = "console"  # admin-console alerts + live stream — staff on duty


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the last attempt failed; another is scheduled
    DEAD = "dead"  # gave up (attempts exhausted or a permanent error)
    SUPPRESSED = "suppressed"  # deliberately not sent: no subscription grant, refused, switched off


class RecipientKind(StrEnum):
    STAFF = "staff"
    CITIZEN = "citizen"


class Box(StrEnum):
    """Which staff inbox an item lands in."""

    FIELD = "field"
    CONSOLE = "console"


FINAL_STATUSES = frozenset({Status.SENT, Status.DEAD, Status.SUPPRESSED})
