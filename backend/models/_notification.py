"""Notifications (push/): one row per recipient, channel and event; the field-app inbox and admin-console
alerts; per-user channel preferences; WeChat subscribe-message grants.

A citizen recipient is identified by ``recipient_id`` (their citizen id, or the openid when only that is
known); every notification keeps the address it went to (openid, phone number or staff id), so it can
be delivered — and audited — without looking the recipient up again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class Notification(IdMixin, TimestampMixin, Base):
    """通知 — one message for one recipient over one channel, promised by one event.

    ``(dedup_key, recipient, channel)`` is unique, so an event that is processed twice notifies once.
    Status: pending → sent | suppressed (no subscription grant, refused, switched off) | failed (a retry
    is scheduled) → dead (gave up; ``last_error`` says why).
    """

    __tablename__ = "notifications"

    event: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(20))  # wechat | sms | inbox | console
    recipient_kind: Mapped[str] = mapped_column(String(10))  # staff | citizen
    recipient_id: Mapped[str] = mapped_column(String(64))  # staff id, or the citizen's openid
    address: Mapped[str] = mapped_column(String(128))  # openid, phone number or staff id, by channel
    template: Mapped[str | None] = mapped_column(String(100))  # the provider's template id / code used
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    dedup_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="pending", server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime | None]  # deferred past quiet hours, or the next retry
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("dedup_key", "recipient_kind", "recipient_id", "channel"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'dead', 'suppressed')", name="status"),
        CheckConstraint("recipient_kind IN ('staff', 'citizen')", name="recipient_kind"),
        Index("ix_notifications_recipient", "recipient_kind", "recipient_id", "created_at"),
        Index("ix_notifications_open", "created_at", postgresql_where=text("status IN ('pending', 'failed')")),
    )


class InboxItem(IdMixin, Base):
    """收件箱消息 — a message in a staff member's field-app inbox (``box='field'``) or among their
    admin-console alerts (``box='console'``). Ids are UUIDv7, so id order is arrival order."""

    __tablename__ = "inbox_items"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    box: Mapped[str] = mapped_column(String(10))
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), unique=True)
    event: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    read_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("box IN ('field', 'console')", name="box"),
        Index("ix_inbox_items_staff_box", "staff_id", "box", "id"),
        Index("ix_inbox_items_unread", "staff_id", "box", postgresql_where=text("read_at IS NULL")),
    )


class NotificationPreference(Base):
    """通知偏好 — one recipient's choice to receive (or not) an event over a channel. ``event`` may be
    ``*`` for every event; a row for the event itself wins over ``*``."""

    __tablename__ = "notification_preferences"

    recipient_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(50), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class WeChatSubscribeGrant(Base):
    """订阅消息授权 — what a citizen allowed us to send with one subscribe-message template.

    Each "accept" in the mini-program's ``wx.requestSubscribeMessage`` allows one message
    (一次性订阅): ``remaining`` counts them and a send consumes one. A long-term subscription (长期订阅,
    open to public-service mini-programs) is not consumed. WeChat's 43101 means the user withdrew it.
    """

    __tablename__ = "wechat_subscribe_grants"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    long_term: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    last_granted_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    refused_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("remaining >= 0", name="remaining_not_negative"),)
