"""综合评价 in the console: a view's ranking table with its charts, the ten-worst list, a trend, and the
XLSX/CSV downloads. The charts are SVG served from here (signed in by the console's session cookie), so
the page embeds them as plain images; the same tables, charts and files are in the JSON API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqladmin import BaseView, expose
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from admin.auth import RuntimeRef
from backend.errors import DomainError
from backend.evaluation import reports, rules
from backend.evaluation.charts import SVG_MEDIA_TYPE, format_value
from backend.evaluation.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from backend.evaluation.rules import INDICATORS, POST_INDICATORS, Granularity, Period, Post
from backend.evaluation.service import View, ten_worst

READER_ROLES = {"seat", "dispatcher", "shift_lead", "auditor", "admin"}

PAGE = """{% extends "sqladmin/layout.html" %}
{% block content %}
<div class="col-12"><div class="card"><div class="card-body">
  <form method="get" class="row g-2 align-items-end">
    <div class="col-auto"><label class="form-label">评价对象</label>
      <select name="view" class="form-select">{% for v in views %}
        <option value="{{ v.value }}" {% if v == view %}selected{% endif %}>{{ v.label }}</option>{% endfor %}
      </select></div>
    <div class="col-auto"><label class="form-label">周期</label>
      <select name="period" class="form-select">{% for g in granularities %}
        <option value="{{ g.value }}" {% if g == granularity %}selected{% endif %}>{{ g.label }}</option>{% endfor %}
      </select></div>
    <div class="col-auto"><label class="form-label">日期</label>
      <input type="date" name="date" value="{{ anchor }}" class="form-control"></div>
    <div class="col-auto"><label class="form-label">或 起</label>
      <input type="date" name="from" value="{{ start or '' }}" class="form-control"></div>
    <div class="col-auto"><label class="form-label">止</label>
      <input type="date" name="to" value="{{ end or '' }}" class="form-control"></div>
    <div class="col-auto"><label class="form-label">排名指标</label>
      <select name="indicator" class="form-select">
        <option value="composite">综合指标值</option>{% for key in indicator_keys %}
        <option value="{{ key }}" {% if key == indicator %}selected{% endif %}>{{ labels[key] }}</option>{% endfor %}
      </select></div>
    <div class="col-auto"><button class="btn btn-primary">查询</button></div>
    <div class="col-auto ms-auto">
      <a class="btn btn-outline-secondary" href="{{ xlsx_url }}">导出 XLSX（全部视图）</a>
      <a class="btn btn-outline-secondary" href="{{ csv_url }}">导出 CSV</a></div>
  </form>
  {% if error %}<div class="alert alert-danger mt-3">{{ error }}</div>{% endif %}
</div></div></div>
{% if result %}
<div class="col-12"><div class="card"><div class="card-header"><h3 class="card-title">
  {{ view.label }}排名 · {{ period.label }}（数据来源：{{ result.source }}）</h3></div>
  <div class="card-body"><img src="{{ ranking_url }}" alt="排名图" style="max-width:100%"></div></div></div>
<div class="col-12"><div class="card"><div class="card-header"><h3 class="card-title">趋势 · {{ trend_name }}</h3></div>
  <div class="card-body">{% if trend_url %}<img src="{{ trend_url }}" alt="趋势图" style="max-width:100%">
  {% else %}<p class="text-muted">在下表中点一个人员的名字看其趋势。</p>{% endif %}</div></div></div>
<div class="col-12"><div class="card"><div class="card-header"><h3 class="card-title">十差</h3></div>
  <div class="card-body"><ol>{% for r in worst %}
    <li>{{ r.name }}（{{ r.post.label }}）：{{ r.composite }} {{ r.grade or '' }}</li>
  {% else %}<li class="text-muted">本期无可评价对象</li>{% endfor %}</ol></div></div></div>
<div class="col-12"><div class="card"><div class="table-responsive">
  <table class="table table-vcenter card-table table-striped text-nowrap">
    <thead><tr><th>排名</th><th>名称</th><th>岗位</th>{% for key in columns %}<th>{{ labels[key] }}</th>{% endfor %}
      <th>综合指标值</th><th>等级</th></tr></thead>
    <tbody>{% for r in result.rows %}<tr>
      <td>{{ r.rank or '—' }}</td>
      <td><a href="{{ subject_url(r) }}">{{ r.name }}</a> <span class="text-muted">{{ r.code or '' }}</span></td>
      <td>{{ r.post.label }}</td>
      {% for key in columns %}<td>{{ show(r, key) }}</td>{% endfor %}
      <td>{{ r.composite if r.composite is not none else '—' }}</td><td>{{ r.grade or '—' }}</td></tr>{% endfor %}
    </tbody></table></div></div></div>
{% endif %}
{% endblock %}
"""


class _Query:
    """The page's query string, parsed leniently: a bad value is reported on the page, not a 500."""

    def __init__(self, request: Request) -> None:
        q = request.query_params
        self.view = View(q["view"]) if q.get("view") in View.__members__ else View.department
        self.granularity = Granularity(q["period"]) if q.get("period") in Granularity.__members__ else Granularity.month
        self.indicator = q.get("indicator") or "composite"
        self.subject = q.get("subject") or None
        self.post = Post(q["post"]) if q.get("post") in Post.__members__ else None
        self.raw = {k: v for k, v in q.items() if v}
        self.anchor = _date(q.get("date"))
        self.start = _date(q.get("from"))
        self.end = _date(q.get("to"))

    def period(self) -> Period:
        today = rules.shanghai_day(datetime.now(UTC))
        return rules.period_from(self.granularity, self.anchor, self.start, self.end, today=today)

    def link(self, path: str, **override: str | None) -> str:
        params = {**self.raw, **override}
        return f"{path}?{urlencode({k: v for k, v in params.items() if v})}"


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _download(content: bytes, media_type: str, filename: str, fallback: str) -> Response:
    """A file download; the Chinese name for browsers that read ``filename*``, an ASCII one otherwise."""
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


def evaluation_views(ref: RuntimeRef) -> list[type[BaseView]]:
    """The console's evaluation page, bound to the running application's sessions."""

    class EvaluationView(BaseView):
        name = "综合评价"
        identity = "evaluation"
        icon = "fa-solid fa-chart-column"
        category = "值班"

        def is_accessible(self, request: Request) -> bool:
            return bool(set(request.session.get("roles", [])) & READER_ROLES)

        @expose("/evaluation", identity="evaluation")
        async def page(self, request: Request) -> Response:
            query = _Query(request)
            context: dict[str, Any] = {
                "request": request, "title": "综合评价", "subtitle": "区域、部门、人员的评价指标与排名",
                "views": list(View), "granularities": list(Granularity), "view": query.view,
                "granularity": query.granularity, "indicator": query.indicator, "labels": {
                    k: i.label for k, i in INDICATORS.items()
                }, "result": None, "error": None, "anchor": query.anchor or "", "start": query.start,
                "end": query.end, "xlsx_url": query.link("evaluation/export.xlsx"),
                "csv_url": query.link("evaluation/export.csv"),
            }  # fmt: skip
            try:
                period = query.period()
                async with ref.get().session_factory() as session:
                    result = await reports.table(session, query.view, period)
            except DomainError as exc:
                context["error"] = exc.message
                context["indicator_keys"] = []
                return await self._render(context)
            posts = result.posts
            columns = [k for p in posts for k in POST_INDICATORS[p]]
            columns = list(dict.fromkeys(columns))
            trend_subject = query.subject
            if trend_subject is None and query.view is View.staff:
                trend_url, trend_name = None, "请选择人员"
            else:
                trend_url = query.link("evaluation/chart/trend.svg", subject=trend_subject)
                chosen = next((r for r in result.rows if r.subject_id == trend_subject), None)
                trend_name = chosen.name if chosen else ("全市" if query.view.is_region else "全部部门")
            context.update(
                result=result, period=period, columns=columns, indicator_keys=columns,
                worst=ten_worst(result),
                ranking_url=query.link("evaluation/chart/ranking.svg"), trend_url=trend_url, trend_name=trend_name,
                subject_url=lambda r: query.link("evaluation", subject=r.subject_id, post=r.post.value),
                show=lambda r, key: "—" if key not in r.indicators else format_value(
                    r.indicators[key], INDICATORS[key].unit
                ),
            )  # fmt: skip
            return await self._render(context)

        async def _render(self, context: dict[str, Any]) -> Response:
            template = self.templates.env.from_string(PAGE)
            return HTMLResponse(await template.render_async(context))

        @expose("/evaluation/chart/ranking.svg", identity="evaluation-ranking")
        async def ranking(self, request: Request) -> Response:
            query = _Query(request)
            try:
                async with ref.get().session_factory() as session:
                    svg = await reports.ranking_chart(
                        session, query.view, query.period(), indicator=query.indicator, post=query.post
                    )
            except DomainError as exc:
                return PlainTextResponse(exc.message, status_code=exc.status_hint)
            return Response(svg, media_type=SVG_MEDIA_TYPE)

        @expose("/evaluation/chart/trend.svg", identity="evaluation-trend")
        async def trend(self, request: Request) -> Response:
            query = _Query(request)
            bucket = (
                Granularity.month if query.granularity in {Granularity.quarter, Granularity.year} else Granularity.day
            )
            try:
                async with ref.get().session_factory() as session:
                    svg = await reports.trend_chart(
                        session, query.view, query.subject, query.indicator, query.period(), bucket, post=query.post
                    )
            except DomainError as exc:
                return PlainTextResponse(exc.message, status_code=exc.status_hint)
            return Response(svg, media_type=SVG_MEDIA_TYPE)

        @expose("/evaluation/export.xlsx", identity="evaluation-xlsx")
        async def xlsx(self, request: Request) -> Response:
            query = _Query(request)
            try:
                period = query.period()
                async with ref.get().session_factory() as session:
                    content = await reports.workbook(session, period)
            except DomainError as exc:
                return PlainTextResponse(exc.message, status_code=exc.status_hint)
            name = f"{period.start}-{period.end}.xlsx"
            return _download(content, XLSX_MEDIA_TYPE, f"综合评价-{name}", f"evaluation-{name}")

        @expose("/evaluation/export.csv", identity="evaluation-csv")
        async def csv(self, request: Request) -> Response:
            query = _Query(request)
            try:
                period = query.period()
                async with ref.get().session_factory() as session:
                    content = await reports.csv(session, query.view, period)
            except DomainError as exc:
                return PlainTextResponse(exc.message, status_code=exc.status_hint)
            name = f"{period.start}-{period.end}.csv"
            return _download(
                content, CSV_MEDIA_TYPE, f"综合评价-{query.view.label}-{name}", f"evaluation-{query.view.value}-{name}"
            )

    return [EvaluationView]
