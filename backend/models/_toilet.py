"""Public toilets (公共厕所) of the toilet finder."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class Toilet(IdMixin, TimestampMixin, Base):
    """公共厕所 — a public toilet: class (一/二/三类), opening hours, facilities and stalls, owner.

    ``code`` is what its devices name as the object they watch (``toilet:<code>`` in the live state).
    Coordinates are WGS-84; ``(lat, lng)`` is indexed for the bounding-box search used when Redis is
    down."""

    __tablename__ = "toilets"
    __table_args__ = (
        Index("ix_toilets_lat_lng", "lat", "lng"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(
            "male_stalls >= 0 AND female_stalls >= 0 AND accessible_stalls >= 0 AND fee_fen >= 0", name="counts"
        ),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    level: Mapped[int] = mapped_column(SmallInteger)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    free: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    fee_fen: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    male_stalls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    female_stalls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    accessible_stalls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    third_toilet: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    baby_care: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    grid_code: Mapped[str | None] = mapped_column(String(15))
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    note: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))
