"""Evaluation (综合评价): the daily rollup of measures, which days it covers, and composite weights."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models._base import Base, TimestampMixin


class EvaluationDaily(Base):
    """评价日汇总 — what one Asia/Shanghai day's case events added to one measure of one subject
    (a unit grid, a department or a staff member); see ``backend.evaluation.rules``.

    Rebuilt a day at a time (DELETE + INSERT in one transaction), so a rerun is harmless."""

    __tablename__ = "evaluation_daily"

    subject_kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # grid | department | staff
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    measure: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class EvaluationDay(Base):
    """A day the rollup holds, and when it was computed: days without a row are computed from the
    events when asked for, so a gap makes evaluation slower, never wrong."""

    __tablename__ = "evaluation_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime]
    events: Mapped[int] = mapped_column(Integer, default=0)


class EvaluationWeights(TimestampMixin, Base):
    """综合指标值权重 — an administrator's weights for one post (``rules.Post``), overriding the defaults."""

    __tablename__ = "evaluation_weights"

    post: Mapped[str] = mapped_column(String(20), primary_key=True)
    weights: Mapped[dict[str, Any]]
    updated_by: Mapped[str | None] = mapped_column(String(64))
