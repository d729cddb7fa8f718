"""Organization: departments (专业部门、街道、成员单位) and staff with roles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin


class Department(IdMixin, TimestampMixin, Base):
    """部门 — a professional department, a street office or a member unit, in a hierarchy."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # professional | street | member_unit | command_center
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id"), index=True)
    district_code: Mapped[str | None] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9))
    phone: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Staff(IdMixin, TimestampMixin, Base):
    """工作人员 — anyone who signs in to the field app or the admin console."""

    __tablename__ = "staff"

    username: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id"), index=True)
    grid_codes: Mapped[list[str]] = mapped_column(ARRAY(String(15)), default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    last_login_at: Mapped[datetime | None]
