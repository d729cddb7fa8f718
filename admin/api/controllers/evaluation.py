"""综合评价 for the admin console: ranked views of regions, departments and staff, ten-worst lists, trends,
exports (XLSX, CSV), charts (SVG) and the composite weights. Read by seats, dispatchers, shift leads,
auditors and administrators; weights are changed by administrators only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Response, delete, get, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from admin.api.schemas import (
    CatalogOut,
    EvaluationOut,
    EvaluationRowOut,
    GradeOut,
    IndicatorOut,
    PeriodOut,
    PostOut,
    TrendOut,
    TrendPointOut,
    ViewOut,
    WeightsIn,
    WeightsOut,
)
from app.auth import require_roles
from backend.evaluation import reports, rules, service
from backend.evaluation.charts import SVG_MEDIA_TYPE
from backend.evaluation.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from backend.evaluation.rules import INDICATORS, POST_INDICATORS, Granularity, Period, Post
from backend.evaluation.service import Trend, View, ViewResult
from backend.org.tokens import StaffClaims

READERS = require_roles("seat", "dispatcher", "shift_lead", "auditor", "admin")
ADMINS = require_roles("admin")

Anchor = Annotated[date | None, Parameter(query="date", description="A day inside the period (default: today)")]
From = Annotated[date | None, Parameter(query="from", description="First day of a custom range (with `to`)")]
To = Annotated[date | None, Parameter(query="to", description="Last day of a custom range (with `from`)")]
Within = Annotated[
    str | None, Parameter(pattern=r"^[0-9]{6,15}$", description="Only regions inside this district/street/community")
]
Indicator = Annotated[str, Parameter(max_length=40, description="An indicator key, or `composite`")]


def _period(granularity: Granularity, anchor: date | None, start: date | None, end: date | None) -> Period:
    today = rules.shanghai_day(datetime.now(UTC))
    return rules.period_from(granularity, anchor, start, end, today=today)


def _period_out(period: Period) -> PeriodOut:
    return PeriodOut(start=period.start, end=period.end, label=period.label)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _evaluation_out(result: ViewResult) -> EvaluationOut:
    return EvaluationOut(
        view=result.view.value,
        view_label=result.view.label,
        period=_period_out(result.period),
        source=result.source,
        indicators={post.value: list(POST_INDICATORS[post]) for post in result.posts},
        rows=[
            EvaluationRowOut(
                subject_id=r.subject_id, code=r.code, name=r.name, parent_code=r.parent_code, post=r.post.value,
                post_label=r.post.label, rank=r.rank, composite=r.composite, grade=r.grade.value if r.grade else None,
                indicators={k: _round(v) for k, v in r.indicators.items()},
                measures={k: round(v, 6) for k, v in r.measures.items()},
            )
            for r in result.rows
        ],
    )  # fmt: skip


def _trend_out(trend: Trend) -> TrendOut:
    label = "综合指标值" if trend.indicator == "composite" else INDICATORS[trend.indicator].label
    return TrendOut(
        view=trend.view.value, subject_id=trend.subject_id, subject_name=trend.subject_name, post=trend.post.value,
        indicator=trend.indicator, indicator_label=label, bucket=trend.bucket.value, period=_period_out(trend.period),
        points=[TrendPointOut(label=p.label, start=p.start, end=p.end, value=_round(p.value)) for p in trend.points],
    )  # fmt: skip


def _download(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content=content, media_type=media_type, headers={"Content-Disposition": disposition})


class EvaluationController(Controller):
    path = "/evaluation"
    tags = ["evaluation"]
    guards = [READERS]

    @get("/indicators", summary="Indicators, their formulas, posts with their weights, grades and views")
    async def catalog(self, db_session: AsyncSession) -> CatalogOut:
        weights = await service.current_weights(db_session)
        return CatalogOut(
            indicators=[
                IndicatorOut(
                    key=i.key, label=i.label, unit=i.unit.value, polarity=i.polarity.value, formula=i.formula,
                    numerator=list(i.numerator), denominator=list(i.denominator), complement=i.complement,
                )
                for i in INDICATORS.values()
            ],
            posts=[
                PostOut(
                    post=p.value, label=p.label, indicators=list(POST_INDICATORS[p]), weights=weights[p],
                    default_weights=dict(rules.DEFAULT_WEIGHTS[p]),
                )
                for p in Post
            ],
            grades=[GradeOut(grade=g.value, label=rules.GRADE_LABELS[g], at_least=f) for g, f in rules.GRADE_FLOORS]
            + [GradeOut(grade="E", label=rules.GRADE_LABELS[rules.Grade.E], at_least=None)],
            views=[ViewOut(view=v.value, label=v.label) for v in View],
        )  # fmt: skip

    @get("/views/{view:str}", summary="A view ranked by its composite (综合指标值) for a period")
    async def view(
        self,
        db_session: AsyncSession,
        view: View,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        within: Within = None,
        post: Post | None = None,
    ) -> EvaluationOut:
        chosen = _period(period, anchor, from_, to)
        return _evaluation_out(await reports.table(db_session, view, chosen, within=within, post=post))

    @get("/views/{view:str}/worst", summary="Ten-worst list (十差): the lowest composites of each post")
    async def worst(
        self,
        db_session: AsyncSession,
        view: View,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        within: Within = None,
        post: Post | None = None,
        n: Annotated[int, Parameter(ge=1, le=100)] = 10,
    ) -> EvaluationOut:
        chosen = _period(period, anchor, from_, to)
        return _evaluation_out(await reports.table(db_session, view, chosen, within=within, post=post, worst=n))

    @get(
        "/views/{view:str}/trend",
        summary="An indicator per day, week or month",
        description="Without `subject`: the whole city (region views) or all departments together.",
    )
    async def trend(
        self,
        db_session: AsyncSession,
        view: View,
        indicator: Indicator = "composite",
        subject: Annotated[str | None, Parameter(max_length=64)] = None,
        bucket: Granularity = Granularity.day,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        post: Post | None = None,
    ) -> TrendOut:
        chosen = _period(period, anchor, from_, to)
        return _trend_out(await reports.trend(db_session, view, subject, indicator, chosen, bucket, post=post))

    @get("/views/{view:str}/export.csv", summary="A view as CSV (UTF-8, Chinese headers)", media_type=CSV_MEDIA_TYPE)
    async def export_csv(
        self,
        db_session: AsyncSession,
        view: View,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        within: Within = None,
        post: Post | None = None,
    ) -> Response[bytes]:
        chosen = _period(period, anchor, from_, to)
        content = await reports.csv(db_session, view, chosen, within=within, post=post)
        return _download(content, CSV_MEDIA_TYPE, f"evaluation-{view.value}-{chosen.start}-{chosen.end}.csv")

    @get("/export.xlsx", summary="Every view as one XLSX workbook, a sheet each", media_type=XLSX_MEDIA_TYPE)
    async def export_xlsx(
        self,
        db_session: AsyncSession,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
    ) -> Response[bytes]:
        chosen = _period(period, anchor, from_, to)
        content = await reports.workbook(db_session, chosen)
        return _download(content, XLSX_MEDIA_TYPE, f"evaluation-{chosen.start}-{chosen.end}.xlsx")

    @get("/views/{view:str}/charts/ranking.svg", summary="Ranking chart (SVG)", media_type=SVG_MEDIA_TYPE)
    async def ranking_chart(
        self,
        db_session: AsyncSession,
        view: View,
        indicator: Indicator = "composite",
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        within: Within = None,
        post: Post | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 30,
    ) -> Response[str]:
        chosen = _period(period, anchor, from_, to)
        svg = await reports.ranking_chart(
            db_session, view, chosen, indicator=indicator, within=within, post=post, limit=limit
        )
        return Response(content=svg, media_type=SVG_MEDIA_TYPE)

    @get("/views/{view:str}/charts/trend.svg", summary="Trend chart (SVG)", media_type=SVG_MEDIA_TYPE)
    async def trend_chart(
        self,
        db_session: AsyncSession,
        view: View,
        indicator: Indicator = "composite",
        subject: Annotated[str | None, Parameter(max_length=64)] = None,
        bucket: Granularity = Granularity.day,
        period: Granularity = Granularity.month,
        anchor: Anchor = None,
        from_: From = None,
        to: To = None,
        post: Post | None = None,
    ) -> Response[str]:
        chosen = _period(period, anchor, from_, to)
        svg = await reports.trend_chart(db_session, view, subject, indicator, chosen, bucket, post=post)
        return Response(content=svg, media_type=SVG_MEDIA_TYPE)

    @get("/weights", summary="Composite weights of every post")
    async def weights(self, db_session: AsyncSession) -> list[WeightsOut]:
        current = await service.current_weights(db_session)
        return [
            WeightsOut(post=p.value, weights=w, default=w == dict(rules.DEFAULT_WEIGHTS[p])) for p, w in current.items()
        ]

    @put("/weights/{post:str}", summary="Set a post's composite weights (administrators)", guards=[ADMINS])
    async def set_weights(
        self, db_session: AsyncSession, staff: StaffClaims, post: Post, data: WeightsIn
    ) -> WeightsOut:
        saved = await service.set_weights(db_session, post, data.weights, by=str(staff.staff_id))
        return WeightsOut(post=post.value, weights=saved, default=False)

    @delete(
        "/weights/{post:str}", summary="Back to the default weights (administrators)", guards=[ADMINS], status_code=200
    )
    async def reset_weights(self, db_session: AsyncSession, post: Post) -> WeightsOut:
        return WeightsOut(post=post.value, weights=await service.reset_weights(db_session, post), default=True)
