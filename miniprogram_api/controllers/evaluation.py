"""公示 — the public summary of evaluation for citizens: districts and streets with their case counts,
rates, composite, grade and rank. Regions only: no person, no department, nothing personal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.evaluation import reports, rules
from backend.evaluation.reports import PublicRegion
from backend.evaluation.rules import Granularity

CACHE_SECONDS = 300


class PublicRegionOut(msgspec.Struct):
    code: str
    name: str
    parent_code: str | None
    cases: int
    cases_per_km2: float | None
    close_rate: float | None
    closed_on_time_rate: float | None
    satisfaction: float | None
    composite: float | None
    grade: str | None
    rank: int | None


class PublicPeriodOut(msgspec.Struct):
    start: date
    end: date
    label: str


class PublicEvaluationOut(msgspec.Struct):
    period: PublicPeriodOut
    districts: list[PublicRegionOut]
    streets: list[PublicRegionOut]
    note: str


def _value(region: PublicRegion, key: str) -> float | None:
    value = region.indicators.get(key)
    return None if value is None else round(value, 4)


def _region_out(region: PublicRegion) -> PublicRegionOut:
    return PublicRegionOut(
        code=region.code, name=region.name, parent_code=region.parent_code,
        cases=int(region.indicators.get("cases") or 0), cases_per_km2=_value(region, "cases_per_km2"),
        close_rate=_value(region, "close_rate"), closed_on_time_rate=_value(region, "closed_on_time_rate"),
        satisfaction=_value(region, "satisfaction"), composite=region.composite,
        grade=region.grade.value if region.grade else None, rank=region.rank,
    )  # fmt: skip


class PublicEvaluationController(Controller):
    path = "/public/evaluation"
    tags = ["public"]

    @get(
        "",
        summary="Evaluation results by district and street (公示)",
        description=(
            "The whole period containing `date` (default: the last complete `period`). Rates are 0–1; "
            "satisfaction is the mean rating, 1–5; grades A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E."
        ),
    )
    async def summary(
        self,
        db_session: AsyncSession,
        period: Granularity = Granularity.month,
        anchor: Annotated[date | None, Parameter(query="date")] = None,
    ) -> Response[PublicEvaluationOut]:
        today = rules.shanghai_day(datetime.now(UTC))
        chosen = rules.period_from(period, anchor, today=today) if anchor else rules.last_complete(period, today)
        found = await reports.public_summary(db_session, chosen)
        body = PublicEvaluationOut(
            period=PublicPeriodOut(start=chosen.start, end=chosen.end, label=chosen.label),
            districts=[_region_out(r) for r in found.districts],
            streets=[_region_out(r) for r in found.streets],
            note="数据来自数字城管案卷记录，按区、街道汇总；不含任何个人信息。",
        )
        return Response(body, headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"})
