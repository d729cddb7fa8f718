"""Citizens of the mini-program (市民), their photo uploads, and public notices (公告)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin
from backend.models._case import Case


class Citizen(IdMixin, TimestampMixin, Base):
    """市民 — a mini-program user, known by the openid WeChat gives our app. The WeChat session_key
    never lands here (it lives server-side in Redis, next to our own session token)."""

    __tablename__ = "citizens"

    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_country_code: Mapped[str | None] = mapped_column(String(6))
    nickname: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    avatar_url: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))
    last_login_at: Mapped[datetime | None]


class MediaUpload(IdMixin, Base):
    """上传照片 — one object a client uploaded straight to storage by presigned URL.

    ``key`` is the private original (with whatever EXIF it carried); ``public_key`` the copy with the
    metadata stripped, written by the ``media.process`` job. The public sees the copy only once the
    content check (``check_status``) has passed.
    """

    __tablename__ = "media_uploads"

    key: Mapped[str] = mapped_column(String(300), unique=True)
    owner_kind: Mapped[str] = mapped_column(String(10))  # citizen | staff
    owner_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(50))
    max_bytes: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="issued")  # issued | confirmed | attached
    check_status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|checking|passed|review|rejected
    check_trace_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    check_label: Mapped[int | None] = mapped_column(Integer)
    public_key: Mapped[str | None] = mapped_column(String(300))
    exif_lat: Mapped[float | None] = mapped_column(Float)  # WGS-84, from the photo's GPS tags
    exif_lng: Mapped[float | None] = mapped_column(Float)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    confirmed_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_media_uploads_owner", "owner_kind", "owner_id", "created_at"),)


class Notice(IdMixin, TimestampMixin, Base):
    """公告 — a public notice (公示, service change, campaign) shown in the mini-program."""

    __tablename__ = "notices"

    title: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20), default="notice", server_default=text("'notice'"))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    published_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_notices_public", "pinned", "published_at", postgresql_where=text("published")),)


# The public map looks cases up by H3 cell across categories and states; the similar-case index
# (category_code, cell) WHERE open cannot serve that. Declared here, with the mini-program that needs it.
Index("ix_cases_cell", Case.__table__.c.cell)
