"""Administrative and management geography (GB/T 30428.1): 区 → 街道 → 社区 → 单元网格.

Codes are the natural keys (6, 9, 12 and 15 digits). Boundaries are GeoJSON geometries in
WGS-84; there is no PostGIS here, so point-in-polygon runs in Python over an STRtree
(``backend/geo/geocoder.py``) and each case stores its four codes at creation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, TimestampMixin


class District(TimestampMixin, Base):
    """区 — county-level division (6-digit code)."""

    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    boundary: Mapped[dict[str, Any] | None]

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{6}$'", name="code_format"),)


class Street(TimestampMixin, Base):
    """街道 — township-level division (9-digit code)."""

    __tablename__ = "streets"

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    boundary: Mapped[dict[str, Any] | None]

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{9}$'", name="code_format"),)


class Community(TimestampMixin, Base):
    """社区 — community (12-digit code)."""

    __tablename__ = "communities"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    boundary: Mapped[dict[str, Any] | None]

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{12}$'", name="code_format"),)


class Grid(TimestampMixin, Base):
    """单元网格 — the smallest management unit: community code + 3-digit sequence."""

    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    boundary: Mapped[dict[str, Any]]
    area_km2: Mapped[float] = mapped_column(Float, default=0.0)
    min_lat: Mapped[float] = mapped_column(Float)
    min_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)

    __table_args__ = (CheckConstraint("code ~ '^[0-9]{15}$'", name="code_format"),)
