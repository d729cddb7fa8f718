"""The admin console's audit trail (审计日志)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin


class AuditLog(IdMixin, Base):
    """审计日志 — one write made in the admin console: who, acting in which role, did what (view and
    action) to which object, with a before/after summary of the fields it changed.

    Written in the same transaction as the write itself, so a write without its entry never commits.
    ``staff_id`` has no foreign key on purpose: the trail outlives whatever happens to the account."""

    __tablename__ = "audit_log"

    at: Mapped[datetime] = mapped_column(server_default=func.now())
    staff_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    username: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(20))
    view: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_object", "view", "object_id"),
        Index("ix_audit_log_staff_at", "staff_id", "at"),
    )
