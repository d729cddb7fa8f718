"""Field work (外勤): device bindings, shifts and attendance, patrol tracks, applied client writes and
inspections (执法检查) with their findings.

``patrol_tracks`` is a plain ``Table`` (no ORM class), partitioned by month on ``started_at``. Its
partitions live in their own schema (``patrol_tracks_parts``, created by ``backend/field/partitions.py``),
so ``public`` — and alembic's comparison of models and migrations — sees only the partitioned parent.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class StaffDevice(Base):
    """设备绑定 — the one phone or pad a staff member may sign in to the field app from.

    The first sign-in with a device id binds it; another device is refused until an administrator
    unbinds (``chengguan staff unbind-device``)."""

    __tablename__ = "staff_devices"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(100))
    bound_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Shift(IdMixin, TimestampMixin, Base):
    """排班 — one staff member's shift on one (Asia/Shanghai) day: from, to, and the grids to patrol."""

    __tablename__ = "shifts"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    grid_codes: Mapped[list[str]] = mapped_column(ARRAY(String(15)), default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())

    __table_args__ = (
        UniqueConstraint("staff_id", "day", name="uq_shifts_staff_day"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_shifts_day", "day"),
    )


class AttendanceRecord(IdMixin, TimestampMixin, Base):
    """考勤记录 — the check-in and check-out of one shift, where they were made and how far outside the
    grids (0 inside). ``*_received_at`` is when the server got it (later than ``*_at`` when offline)."""

    __tablename__ = "attendance_records"

    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), unique=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    check_in_at: Mapped[datetime | None]
    check_in_lat: Mapped[float | None] = mapped_column(Float)
    check_in_lng: Mapped[float | None] = mapped_column(Float)
    check_in_outside_m: Mapped[float | None] = mapped_column(Float)
    check_in_received_at: Mapped[datetime | None]
    check_out_at: Mapped[datetime | None]
    check_out_lat: Mapped[float | None] = mapped_column(Float)
    check_out_lng: Mapped[float | None] = mapped_column(Float)
    check_out_outside_m: Mapped[float | None] = mapped_column(Float)
    check_out_received_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_attendance_records_staff_day", "staff_id", "day"),)


class FieldClientOp(Base):
    """已应用的客户端操作 — one field-app write, by its client-generated id, with the result it had.

    A write sent again (a retry, an offline batch sent twice) finds its row and gets the same result;
    the same id with a different body is refused (``request_hash``)."""

    __tablename__ = "field_client_ops"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    request_hash: Mapped[str] = mapped_column(String(64))
    client_ts: Mapped[datetime]
    result: Mapped[dict[str, Any]]
    applied_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_field_client_ops_applied", "applied_at"),)


class Inspection(IdMixin, TimestampMixin, Base):
    """执法检查 — an officer's inspection of a place and an object (a shop front, a construction site, a
    market stall) against a checklist; ``checklist`` is ``[{"item", "passed", "note"}]``."""

    __tablename__ = "inspections"

    inspector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id"))
    place: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lng: Mapped[float | None] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(String(15))
    object_name: Mapped[str] = mapped_column(String(100))
    object_kind: Mapped[str] = mapped_column(String(40), default="")
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    passed: Mapped[bool] = mapped_column(Boolean)
    notes: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    inspected_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_inspections_inspector_created", "inspector_id", "created_at"),
        Index("ix_inspections_department_created", "department_id", "created_at"),
    )


class InspectionFinding(IdMixin, Base):
    """检查发现 — one problem found on an inspection; a case can be opened from it (source ``inspection``)."""

    __tablename__ = "inspection_findings"

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(String(5))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the category's questions (追问), for its case
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    photos: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("inspection_id", "seq", name="uq_inspection_findings_inspection_seq"),)


patrol_tracks = Table(
    "patrol_tracks",
    Base.metadata,
    Column("staff_id", Uuid(), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("distance_m", Float, nullable=False),
    Column("first_lat", Float, nullable=False),
    Column("first_lng", Float, nullable=False),
    Column("last_lat", Float, nullable=False),
    Column("last_lng", Float, nullable=False),
    Column("points", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_patrol_tracks_staff_started", "staff_id", "started_at"),
    comment="巡查轨迹 — packed GPS points, one row per staff, upload and local day; monthly partitions",
    postgresql_partition_by="RANGE (started_at)",
)
"""巡查轨迹 — one row per staff member, upload and Asia/Shanghai day; points packed (``backend.field.rules``)."""
