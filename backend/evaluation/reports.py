"""What the surfaces serve from evaluation — one call each: tables, ten-worst lists, trends, the public
summary (公示), exports and charts, assembled from the queries in ``service`` and the pure rules, charts
and exports. Controllers and console views call these and only serialize."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ValidationFailed
from backend.evaluation import charts, exports, service
from backend.evaluation.rules import INDICATORS, POST_INDICATORS, Grade, Granularity, Period, Post, Unit
from backend.evaluation.service import Row, Source, Trend, View, ViewResult

PUBLIC_INDICATORS = ("cases", "cases_per_km2", "close_rate", "closed_on_time_rate", "satisfaction")
"""What the public summary shows of a region: counts and rates, nothing about people."""


async def table(
    session: AsyncSession,
    view: View,
    period: Period,
    *,
    within: str | None = None,
    post: Post | None = None,
    worst: int | None = None,
) -> ViewResult:
    """The ranked table of a view, or its ten-worst list (十差) when ``worst`` is given."""
    result = await service.evaluate(session, view, period, within=within, post=post)
    if worst is not None:
        result.rows = service.ten_worst(result, worst)
    return result


async def trend(
    session: AsyncSession,
    view: View,
    subject: str | None,
    indicator: str,
    period: Period,
    bucket: Granularity,
    *,
    post: Post | None = None,
) -> Trend:
    return await service.trend(session, view, subject, indicator, period, bucket, post=post)


async def workbook(session: AsyncSession, period: Period) -> bytes:
    """The XLSX of every view for ``period``."""
    memo: service.Memo = {}
    results = [await service.evaluate(session, view, period, memo=memo) for view in View]
    return exports.workbook(results)


async def csv(
    session: AsyncSession, view: View, period: Period, *, within: str | None = None, post: Post | None = None
) -> bytes:
    return exports.csv_bytes(await service.evaluate(session, view, period, within=within, post=post))


def _unit(indicator: str) -> Unit:
    return Unit.number if indicator == "composite" else INDICATORS[indicator].unit


def _indicator_label(indicator: str) -> str:
    return "综合指标值" if indicator == "composite" else INDICATORS[indicator].label


def _bar_value(row: Row, indicator: str) -> float | None:
    return row.composite if indicator == "composite" else row.indicators.get(indicator)


async def ranking_chart(
    session: AsyncSession,
    view: View,
    period: Period,
    *,
    indicator: str = "composite",
    within: str | None = None,
    post: Post | None = None,
    limit: int = 30,
) -> str:
    """排名图 of one indicator (default: the composite) across a view's subjects, best first."""
    result = await service.evaluate(session, view, period, within=within, post=post)
    if indicator != "composite":
        allowed = {k for p in result.posts for k in POST_INDICATORS[p]}
        if indicator not in allowed:
            raise ValidationFailed(
                f"{indicator!r} is not an indicator of this view", code="unknown_indicator",
                details={"indicators": ["composite", *sorted(allowed)]},
            )  # fmt: skip
    rows = [r for r in result.rows if indicator in r.indicators or indicator == "composite"]
    negative = indicator != "composite" and INDICATORS[indicator].polarity == "negative"
    present = sorted(
        (r for r in rows if _bar_value(r, indicator) is not None),
        key=lambda r: (_bar_value(r, indicator) or 0.0) * (1 if negative else -1),
    )
    absent = [r for r in rows if _bar_value(r, indicator) is None]
    chosen = (present + absent)[:limit]
    bars = [
        charts.Bar(
            f"{r.name}（{r.post.label}）" if view is View.staff else r.name,
            _bar_value(r, indicator),
            r.grade.value if indicator == "composite" and r.grade else None,
        )
        for r in chosen
    ]
    title = f"{view.label}排名 · {_indicator_label(indicator)}"
    subtitle = f"{period.label} · 共 {len(rows)} 个{view.label}" + ("（越低越好）" if negative else "")
    return charts.ranking_svg(title, subtitle, bars, _unit(indicator))


async def trend_chart(
    session: AsyncSession,
    view: View,
    subject: str | None,
    indicator: str,
    period: Period,
    bucket: Granularity,
    *,
    post: Post | None = None,
) -> str:
    found = await service.trend(session, view, subject, indicator, period, bucket, post=post)
    title = f"{found.subject_name} · {_indicator_label(indicator)} 趋势（按{bucket.label}）"
    points = [charts.Point(p.label, p.value) for p in found.points]
    return charts.trend_svg(title, period.label, points, _unit(indicator))


@dataclass
class PublicRegion:
    code: str
    name: str
    parent_code: str | None
    indicators: dict[str, float | None]
    composite: float | None
    grade: Grade | None
    rank: int | None


@dataclass
class PublicSummary:
    period: Period
    districts: list[PublicRegion]
    streets: list[PublicRegion]


def _public(rows: Sequence[Row]) -> list[PublicRegion]:
    return [
        PublicRegion(
            r.subject_id, r.name, r.parent_code, {k: r.indicators.get(k) for k in PUBLIC_INDICATORS},
            r.composite, r.grade, r.rank,
        )
        for r in rows
        if r.indicators.get("cases") or r.composite is not None
    ]  # fmt: skip


async def public_summary(session: AsyncSession, period: Period) -> PublicSummary:
    """公示 — districts and streets with their rates, composites, grades and ranks: regions only, never a
    person or a department."""
    memo: service.Memo = {}
    districts = await service.evaluate(session, View.district, period, source=Source.auto, memo=memo)
    streets = await service.evaluate(session, View.street, period, source=Source.auto, memo=memo)
    return PublicSummary(period, _public(districts.rows), _public(streets.rows))
