"""Transactional outbox: messages written in the business transaction, relayed to arq after commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin


class OutboxMessage(IdMixin, Base):
    """发件箱 — one piece of background work promised by a committed transaction.

    ``relayed_at`` is set when the relay handed it to arq (job id = message id, so a relay that
    runs twice enqueues once); ``processed_at`` when a worker finished it (so a job that arq runs
    twice does its work once).
    """

    __tablename__ = "outbox_messages"

    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    available_at: Mapped[datetime] = mapped_column(server_default=func.now())
    relayed_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    dead: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    __table_args__ = (
        Index("ix_outbox_messages_unrelayed", "available_at", postgresql_where=text("relayed_at IS NULL")),
    )

    @property
    def message_id(self) -> uuid.UUID:
        return self.id
