"""Devices (物联感知设备), their types and alarm rules, alarms, and the readings table.

``device_readings`` is a plain ``Table`` (no ORM class): it is written only by COPY and is
partitioned by day on ``ts``. Its partitions live in their own schema (``device_readings_parts``,
created by ``backend/devices/partitions.py``), so ``public`` — and alembic's comparison of models
and migrations — sees only the partitioned parent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class DeviceType(TimestampMixin, Base):
    """设备类型 — what a kind of device measures (its metric schema) and what it may watch.

    ``metrics`` maps a metric name to its schema: ``{"type": "number"|"integer"|"boolean"|"string",
    "min", "max", "max_length", "enum", "unit", "label", "required"}`` (see ``backend/devices/metrics.py``).
    """

    __tablename__ = "device_types"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    object_kinds: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    default_interval_s: Mapped[int] = mapped_column(Integer, default=300)

    __table_args__ = (CheckConstraint("code ~ '^[a-z][a-z0-9_]*$'", name="code_format"),)


class Device(IdMixin, TimestampMixin, Base):
    """设备 — one registered device, the object it watches, its secret and its ingest state.

    The secret is kept Fernet-encrypted (key derived from SECRET_KEY): the server must compute
    HMACs with it, so a one-way hash would not do. ``secret_version`` grows with each rotation.

    Ingest state, updated under the row lock by each batch: ``seq_hwm`` (highest sequence number
    seen) and ``seq_window`` (a ring bitmap of the numbers seen just below it), ``rule_state``
    (alarm rule progress by rule id), ``last_seen_at`` and ``online``.
    """

    __tablename__ = "devices"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    type_code: Mapped[str] = mapped_column(ForeignKey("device_types.code"), index=True)
    object_kind: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    interval_s: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="active", server_default=text("'active'"))
    secret_enc: Mapped[str] = mapped_column(Text)
    secret_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    secret_rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    firmware: Mapped[str | None] = mapped_column(String(60))
    online: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    last_seen_at: Mapped[datetime | None]
    seq_hwm: Mapped[int] = mapped_column(BigInteger, default=-1, server_default=text("-1"))
    seq_window: Mapped[bytes] = mapped_column(LargeBinary, default=b"", server_default=text("''::bytea"))
    rule_state: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status_known"),
        CheckConstraint("interval_s > 0", name="interval_positive"),
        CheckConstraint("lat IS NULL OR (lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180)", name="lat_lng_range"),
        Index("ix_devices_object", "object_kind", "object_id"),
    )


class AlarmRule(IdMixin, TimestampMixin, Base):
    """告警规则 — when readings (or their absence) raise an alarm, and when it clears.

    ``condition``/``clear``/``schedule`` are the JSON forms parsed by ``backend/devices/rules.py``.
    A rule applies to one device type (or every type when ``device_type_code`` is null), optionally
    only to devices watching ``object_kind``. With ``case_category_code`` set, its alarms are
    published to the outbox (``alarm.raised`` / ``alarm.cleared``) so the case core opens a case.
    """

    __tablename__ = "alarm_rules"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    device_type_code: Mapped[str | None] = mapped_column(ForeignKey("device_types.code"), index=True)
    object_kind: Mapped[str | None] = mapped_column(String(30))
    condition: Mapped[dict[str, Any]]
    clear: Mapped[dict[str, Any] | None]
    severity: Mapped[str] = mapped_column(String(10))
    schedule: Mapped[dict[str, Any] | None]
    case_category_code: Mapped[str | None] = mapped_column(String(5))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    __table_args__ = (CheckConstraint("severity IN ('info', 'minor', 'major', 'critical')", name="severity_known"),)


class Alarm(IdMixin, TimestampMixin, Base):
    """告警 — one episode of a rule's condition on one device, from raised to cleared.

    The partial unique index keeps at most one active (not cleared) alarm per device and rule,
    whatever races: writers insert with ``ON CONFLICT … DO UPDATE`` and a repeat bumps ``count``.
    """

    __tablename__ = "alarms"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alarm_rules.id"), index=True)
    state: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    category_code: Mapped[str | None] = mapped_column(String(5))
    object_kind: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str | None] = mapped_column(String(60))
    first_value: Mapped[Any | None] = mapped_column(JSONB)
    last_value: Mapped[Any | None] = mapped_column(JSONB)
    count: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    raised_at: Mapped[datetime]
    last_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    clear_value: Mapped[Any | None] = mapped_column(JSONB)
    clear_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("state IN ('active_unacknowledged', 'active_acknowledged', 'cleared')", name="state_known"),
        Index(
            "uq_alarms_active_device_rule",
            "device_id",
            "rule_id",
            unique=True,
            postgresql_where=text("state <> 'cleared'"),
        ),
        Index("ix_alarms_device_raised", "device_id", "raised_at"),
        Index("ix_alarms_state_raised", "state", "raised_at"),
    )


device_readings = Table(
    "device_readings",
    Base.metadata,
    Column("device_id", Uuid(), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("metrics", JSONB, nullable=False),
    Index("ix_device_readings_device_ts", "device_id", "ts"),
    comment="读数 — every accepted reading, partitioned by day on ts (partitions in device_readings_parts)",
    postgresql_partition_by="RANGE (ts)",
)
"""读数 — one row per accepted reading; written by COPY only."""
