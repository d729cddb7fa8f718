"""Parking (停车): lots and on-street segments, their spaces, sessions from gate events, plates
citizens bind, monthly passes, payments and receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class ParkingLot(IdMixin, TimestampMixin, Base):
    """停车场 / 路内泊位段 — an off-street lot (``kind='lot'``) or an on-street segment (``'street'``).

    ``capacity`` is spaces by type (``{"normal": 120, "disabled": 4, "charging": 10}``); ``fee_rule``
    and ``opening_hours`` are the JSON forms of ``backend/parking/rules.py`` and
    ``backend/places/rules.py``. ``code`` is what its gate devices name as the object they watch."""

    __tablename__ = "parking_lots"
    __table_args__ = (
        Index("ix_parking_lots_lat_lng", "lat", "lng"),
        CheckConstraint("total_spaces >= 0", name="total_spaces"),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total_spaces: Mapped[int] = mapped_column(Integer, default=0)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fee_rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    availability_source: Mapped[str] = mapped_column(String(10), default="none", server_default=text("'none'"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    grid_code: Mapped[str | None] = mapped_column(String(15))
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    note: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))


class ParkingSpace(IdMixin, Base):
    """泊位 — one marked space with a detector (``parking_space:<code>`` in the live state)."""

    __tablename__ = "parking_spaces"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_lots.id", ondelete="CASCADE"), index=True)
    space_type: Mapped[str] = mapped_column(String(12), default="normal")


class ParkingSession(IdMixin, TimestampMixin, Base):
    """停车记录 — one stay of a plate in a lot, from its gate entry to its exit, and its fee.

    At most one open session per lot and plate (a partial unique index)."""

    __tablename__ = "parking_sessions"
    __table_args__ = (
        Index("uq_parking_sessions_open", "lot_id", "plate", unique=True, postgresql_where=text("state = 'open'")),
        Index("ix_parking_sessions_plate_entered", "plate", "entered_at"),
        CheckConstraint("amount_fen IS NULL OR amount_fen >= 0", name="amount"),
    )

    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_lots.id", ondelete="RESTRICT"), index=True)
    plate: Mapped[str] = mapped_column(String(10))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    entry_device_id: Mapped[str | None] = mapped_column(String(64))
    exit_device_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int | None] = mapped_column(Integer)
    fee_detail: Mapped[dict[str, Any] | None]
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ParkingGateEvent(IdMixin, Base):
    """道闸事件 — one entry or exit a gate saw; the same event twice is stored once."""

    __tablename__ = "parking_gate_events"
    __table_args__ = (UniqueConstraint("lot_id", "plate", "direction", "at", name="uq_parking_gate_events_event"),)

    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_lots.id", ondelete="CASCADE"), index=True)
    plate: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    device_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("parking_sessions.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlateBinding(IdMixin, Base):
    """绑定车牌 — a plate a citizen follows (to see and pay its sessions)."""

    __tablename__ = "parking_plate_bindings"
    __table_args__ = (UniqueConstraint("citizen_id", "plate", name="uq_parking_plate_bindings_citizen_plate"),)

    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(10), index=True)
    new_energy: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ParkingPass(IdMixin, TimestampMixin, Base):
    """月卡 — a pass: the plate parks free in the lot (or in every lot, ``lot_id`` null) while valid."""

    __tablename__ = "parking_passes"

    plate: Mapped[str] = mapped_column(String(10), index=True)
    lot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parking_lots.id", ondelete="CASCADE"), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))


class ParkingPayment(IdMixin, TimestampMixin, Base):
    """One payment attempt for a session through a payment provider (``out_trade_no`` is ours)."""

    __tablename__ = "parking_payments"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_sessions.id", ondelete="CASCADE"), index=True)
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ParkingReceipt(IdMixin, Base):
    """停车缴费凭证 — what was paid for which stay; one per paid session."""

    __tablename__ = "parking_receipts"

    number: Mapped[str] = mapped_column(String(24), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_sessions.id", ondelete="CASCADE"), unique=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_payments.id", ondelete="CASCADE"), unique=True)
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"), index=True)
    plate: Mapped[str] = mapped_column(String(10))
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_lots.id", ondelete="CASCADE"))
    lot_name: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount_fen: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    transaction_id: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
