"""Wire types of the admin console's JSON API (msgspec structs; OpenAPI is generated from them)."""

from __future__ import annotations

from datetime import date

import msgspec


class PeriodOut(msgspec.Struct):
    start: date
    end: date
    label: str


class EvaluationRowOut(msgspec.Struct):
    """One evaluated subject: a region, a department, or a staff member in one post (岗位)."""

    subject_id: str
    code: str | None
    name: str
    parent_code: str | None
    post: str
    post_label: str
    rank: int | None
    composite: float | None
    grade: str | None
    indicators: dict[str, float | None]
    measures: dict[str, float]


class EvaluationOut(msgspec.Struct):
    view: str
    view_label: str
    period: PeriodOut
    source: str
    indicators: dict[str, list[str]]
    """The indicator keys shown for each post present in ``rows``."""
    rows: list[EvaluationRowOut]


class TrendPointOut(msgspec.Struct):
    label: str
    start: date
    end: date
    value: float | None


class TrendOut(msgspec.Struct):
    view: str
    subject_id: str | None
    subject_name: str
    post: str
    indicator: str
    indicator_label: str
    bucket: str
    period: PeriodOut
    points: list[TrendPointOut]


class IndicatorOut(msgspec.Struct):
    key: str
    label: str
    unit: str
    polarity: str
    formula: str
    numerator: list[str]
    denominator: list[str]
    complement: bool


class PostOut(msgspec.Struct):
    post: str
    label: str
    indicators: list[str]
    weights: dict[str, float]
    default_weights: dict[str, float]


class GradeOut(msgspec.Struct):
    grade: str
    label: str
    at_least: float | None


class ViewOut(msgspec.Struct):
    view: str
    label: str


class CatalogOut(msgspec.Struct):
    indicators: list[IndicatorOut]
    posts: list[PostOut]
    grades: list[GradeOut]
    views: list[ViewOut]


class WeightsIn(msgspec.Struct, forbid_unknown_fields=True):
    weights: dict[str, float]


class WeightsOut(msgspec.Struct):
    post: str
    weights: dict[str, float]
    default: bool
