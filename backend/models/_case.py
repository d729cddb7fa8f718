"""The case core: categories, dispatch rules, cases (案卷), their events, reporters and day numbers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, IdMixin, TimestampMixin

OPEN_STATES_SQL = "state NOT IN ('rejected', 'merged', 'closed')"


class CategoryMajor(TimestampMixin, Base):
    """大类 — major class of components (部件, kind C) or events (事件, kind E)."""

    __tablename__ = "category_majors"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # component | event
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    extension: Mapped[bool] = mapped_column(Boolean, default=False)


class Category(TimestampMixin, Base):
    """小类 — a minor class (GB/T 30428.2) with its 立案/结案 conditions and time limits (时限)."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)  # e.g. E0101, C0101
    kind: Mapped[str] = mapped_column(String(10))  # component | event
    major_code: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(60))
    citizen_selectable: Mapped[bool] = mapped_column(Boolean, default=True)
    default_urgency: Mapped[str] = mapped_column(String(10), default="normal")
    owner_hint: Mapped[str] = mapped_column(String(40), default="")
    accept_condition: Mapped[str] = mapped_column(Text, default="")
    close_condition: Mapped[str] = mapped_column(Text, default="")
    similar_radius_m: Mapped[int] = mapped_column(Integer, default=50)
    similar_window_h: Mapped[int] = mapped_column(Integer, default=72)
    divert_to: Mapped[str | None] = mapped_column(String(3))
    # {urgency: {stage: {"amount": float, "unit": "working_hours"|...}}}
    time_limits: Mapped[dict[str, Any]]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class DispatchRuleRow(IdMixin, TimestampMixin, Base):
    """派遣规则 — (category pattern × area scope) → department, with a confidence that returns lower."""

    __tablename__ = "dispatch_rules"

    category_pattern: Mapped[str] = mapped_column(String(10))
    area_scope: Mapped[str] = mapped_column(String(10))  # grid | community | street | district | city
    area_code: Mapped[str | None] = mapped_column(String(15))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    successes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    returns: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class CaseNumberCounter(Base):
    """The last human case number used on a day (Asia/Shanghai): 202611210001, …"""

    __tablename__ = "case_number_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Case(IdMixin, TimestampMixin, Base):
    """案卷 — one reported problem from intake to closure (DESIGN §2).

    Location codes are stored at creation so evaluation by area never needs a spatial join.
    The stage clock is kept as wall-clock instants (``yellow_at``, ``deadline``) computed from the
    working calendar when a stage starts, resumes or is extended, so the deadline sweep is one
    indexed UPDATE, not a calendar walk per case.
    """

    __tablename__ = "cases"

    number: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="promise")
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    state: Mapped[str] = mapped_column(String(20))
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float] = mapped_column(Float)  # WGS-84
    lng: Mapped[float] = mapped_column(Float)
    cell: Mapped[int] = mapped_column(BigInteger)  # H3 cell at SIMILAR_RES, for similar-case search
    grid_code: Mapped[str | None] = mapped_column(String(15))
    community_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(9))
    district_code: Mapped[str | None] = mapped_column(String(6))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    photos: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    divert_to: Mapped[str | None] = mapped_column(String(3))

    reporter_kind: Mapped[str] = mapped_column(String(10))  # citizen | staff | phone | device | system
    reporter_id: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))

    main_department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id"))
    assist_department_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), default=list)
    dispatch_rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dispatch_rules.id"))
    dispatch_candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    field_assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))

    # The running stage's clock (None when no clock runs).
    stage: Mapped[str | None] = mapped_column(String(10))
    stage_seq: Mapped[int] = mapped_column(Integer, default=0)
    stage_unit: Mapped[str | None] = mapped_column(String(20))
    stage_limit: Mapped[float | None] = mapped_column(Float)  # in stage_unit
    stage_started_at: Mapped[datetime | None]
    stage_consumed: Mapped[float] = mapped_column(Float, default=0.0)  # seconds used before segment_started_at
    segment_started_at: Mapped[datetime | None]
    yellow_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    light: Mapped[str] = mapped_column(String(10), default="green")
    extension_request: Mapped[dict[str, Any] | None]

    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    accepted_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    disposed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        # Similar-case search: same category, same H3 cells, open.
        Index("ix_cases_similar", "category_code", "cell", postgresql_where=text(OPEN_STATES_SQL)),
        # Deadline sweep: the open clocks by the instant they turn yellow / red.
        Index("ix_cases_yellow_due", "yellow_at", postgresql_where=text("light = 'green' AND stage IS NOT NULL")),
        Index("ix_cases_red_due", "deadline", postgresql_where=text("light <> 'red' AND stage IS NOT NULL")),
        Index("ix_cases_state_created", "state", "created_at"),
        Index("ix_cases_main_department", "main_department_id", "state"),
        Index("ix_cases_street_created", "street_code", "created_at"),
        Index("ix_cases_created", "created_at"),
    )


class CaseEvent(IdMixin, Base):
    """案卷事件 — one step of a case: the timeline, the audit trail and the KPI source at once."""

    __tablename__ = "case_events"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(10))  # staff | citizen | system | device
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str | None] = mapped_column(String(10))
    stage_deadline: Mapped[datetime | None]
    on_time: Mapped[bool | None] = mapped_column(Boolean)  # did this step finish its stage in time?
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),
        Index("ix_case_events_created", "created_at"),
        Index("ix_case_events_action_created", "action", "created_at"),
    )


class CaseReporter(IdMixin, Base):
    """上报人 — everyone who reported a case; merged reporters all follow the surviving case. One row per
    reporter and case (a phone caller without an id is not deduplicated: NULLs are distinct)."""

    __tablename__ = "case_reporters"

    # No index of its own: the unique index below leads with it.
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    reporter_kind: Mapped[str] = mapped_column(String(10))
    reporter_id: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    original_case_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("uq_case_reporters_case_reporter", "case_id", "reporter_kind", "reporter_id", unique=True),
        Index("ix_case_reporters_reporter", "reporter_kind", "reporter_id"),
    )


class CaseAlarmLink(IdMixin, Base):
    """告警关联 — a device alarm that opened, joined or reopened a case; its clearing is 核查 evidence."""

    __tablename__ = "case_alarm_links"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    alarm_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), unique=True)
    device_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    rule_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_case_alarm_links_device_rule", "device_id", "rule_id"),)
