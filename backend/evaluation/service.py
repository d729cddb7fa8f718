"""综合评价 — the queries behind evaluation views, rankings (排名), ten-worst lists (十差), trends and weights.

Measures come from the daily rollup (``evaluation_daily``) for the days it holds and straight from the
events (``backend.evaluation.facts``) for any day it does not, so an answer is always exact; a fully
rolled-up month over a million cases is a sum over some thousands of rows. The indicators, scores and
grades are ``rules``' business.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict, NotFound, ValidationFailed
from backend.evaluation import rules
from backend.evaluation.facts import raw_facts
from backend.evaluation.rules import (
    INDICATORS,
    POOL_MEASURES,
    POST_INDICATORS,
    Grade,
    Granularity,
    Period,
    Post,
    SubjectKind,
)
from backend.models import (
    CaseEvent,
    Community,
    Department,
    District,
    EvaluationDay,
    EvaluationWeights,
    Grid,
    Staff,
    Street,
)


class View(StrEnum):
    """评价视图 — who is evaluated: a level of region, the departments, or the staff."""

    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    department = "department"
    staff = "staff"

    @property
    def label(self) -> str:
        return VIEW_LABELS[self]

    @property
    def is_region(self) -> bool:
        return self in REGION_VIEWS


VIEW_LABELS: Final[Mapping[View, str]] = {
    View.district: "区",
    View.street: "街道",
    View.community: "社区",
    View.grid: "单元网格",
    View.department: "部门",
    View.staff: "人员",
}
REGION_VIEWS: Final[tuple[View, ...]] = (View.district, View.street, View.community, View.grid)
RAW_WARNING_DAYS = 31
log = logging.getLogger("chengguan.evaluation")
STAFF_POSTS: Final[tuple[Post, ...]] = (Post.collector, Post.seat, Post.shift_lead, Post.dispatcher)


class Source(StrEnum):
    """Where measures come from: ``auto`` — the rollup where it has the day, the events elsewhere;
    ``rollup`` — the rollup only (refuses a range it does not cover); ``raw`` — the events only."""

    auto = "auto"
    rollup = "rollup"
    raw = "raw"


@dataclass
class Row:
    """One evaluated subject (a region, a department, or a staff member in one post)."""

    subject_id: str
    code: str | None
    name: str
    parent_code: str | None
    post: Post
    measures: dict[str, float]
    indicators: dict[str, float | None]
    composite: float | None
    grade: Grade | None
    rank: int | None = None


@dataclass
class ViewResult:
    view: View
    period: Period
    rows: list[Row]
    source: str
    weights: dict[Post, dict[str, float]] = field(default_factory=dict)

    @property
    def posts(self) -> list[Post]:
        seen: list[Post] = []
        for row in self.rows:
            if row.post not in seen:
                seen.append(row.post)
        return seen or [post_of_view(self.view)]


@dataclass
class TrendPoint:
    label: str
    start: date
    end: date
    value: float | None


@dataclass
class Trend:
    view: View
    subject_id: str | None
    subject_name: str
    post: Post
    indicator: str
    bucket: Granularity
    period: Period
    points: list[TrendPoint]


def post_of_view(view: View) -> Post:
    if view.is_region:
        return Post.region
    if view is View.department:
        return Post.department
    raise ValidationFailed("the staff view has one post per role", code="invalid_view")


# --- where measures come from -----------------------------------------------------------------------


Totals = dict[str, dict[str, float]]  # subject → measure → value
Series = dict[date, dict[str, float]]  # day → measure → value (summed over the chosen subjects)


async def covered_days(session: AsyncSession, period: Period) -> set[date]:
    rows = await session.scalars(
        select(EvaluationDay.day).where(EvaluationDay.day >= period.start, EvaluationDay.day <= period.end)
    )
    return set(rows.all())


def gaps(period: Period, covered: set[date]) -> list[Period]:
    """The runs of days in ``period`` the rollup does not hold."""
    out: list[Period] = []
    run_start: date | None = None
    for day in period.each_day():
        if day in covered:
            if run_start is not None:
                out.append(Period(run_start, day - timedelta(days=1)))
                run_start = None
        elif run_start is None:
            run_start = day
    if run_start is not None:
        out.append(Period(run_start, period.end))
    return out


async def _plan(session: AsyncSession, period: Period, source: Source) -> tuple[bool, list[Period], str]:
    """(read the rollup?, ranges to compute from events, label of the source used)."""
    if source is Source.raw:
        return False, [period], "raw"
    missing = gaps(period, await covered_days(session, period))
    if source is Source.rollup and missing:
        raise Conflict(
            "the evaluation rollup does not cover this period; run `chengguan evaluation recompute`",
            code="rollup_incomplete",
            details={"missing": [{"from": str(p.start), "to": str(p.end)} for p in missing]},
        )
    if not missing:
        return True, [], "rollup"
    if sum(p.days for p in missing) > RAW_WARNING_DAYS:
        log.warning(
            "evaluation: the rollup lacks %d days of %s…%s, computed from the events instead (slow); "
            "run `chengguan evaluation recompute`",
            sum(p.days for p in missing), period.start, period.end,
        )  # fmt: skip
    if len(missing) == 1 and missing[0] == period:
        return False, missing, "raw"
    return True, missing, "rollup+raw"


Memo = dict[tuple[Any, ...], Any]
"""Measures already read while answering one request (an export evaluates every view of a period)."""


async def totals(
    session: AsyncSession,
    kind: SubjectKind,
    period: Period,
    source: Source = Source.auto,
    *,
    measures: Sequence[str] | None = None,
    memo: Memo | None = None,
) -> tuple[Totals, str]:
    """Each subject's measures summed over ``period``."""
    key = ("totals", kind, period, source, None if measures is None else tuple(measures))
    if memo is not None and key in memo:
        return memo[key]  # type: ignore[no-any-return]
    found = await _totals(session, kind, period, source, measures)
    if memo is not None:
        memo[key] = found
    return found


async def _totals(
    session: AsyncSession, kind: SubjectKind, period: Period, source: Source, measures: Sequence[str] | None
) -> tuple[Totals, str]:
    use_rollup, raw_ranges, label = await _plan(session, period, source)
    out: Totals = defaultdict(lambda: defaultdict(float))
    if use_rollup:
        sql = (
            "SELECT subject_id, measure, sum(value) FROM evaluation_daily"
            " WHERE subject_kind = :kind AND day >= :d0 AND day <= :d1"
        )
        params: dict[str, Any] = {"kind": kind.value, "d0": period.start, "d1": period.end}
        if measures is not None:
            sql += " AND measure = ANY(:measures)"
            params["measures"] = list(measures)
        sql += " GROUP BY subject_id, measure"
        for subject, measure, value in (await session.execute(text(sql), params)).all():
            out[subject][measure] += float(value)
    for part in raw_ranges:
        t0, t1 = part.bounds()
        for _kind, subject, measure, value in await raw_facts(session, [kind], t0, t1, by_day=False, measures=measures):
            out[subject][measure] += float(value)
    return {s: dict(m) for s, m in out.items()}, label


async def series(
    session: AsyncSession,
    kind: SubjectKind,
    period: Period,
    subjects: Sequence[str] | None,
    source: Source = Source.auto,
) -> tuple[Series, str]:
    """Per day, the measures of ``subjects`` (all subjects of ``kind`` when None) summed together."""
    use_rollup, raw_ranges, label = await _plan(session, period, source)
    out: Series = defaultdict(lambda: defaultdict(float))
    if use_rollup:
        sql = (
            "SELECT day, measure, sum(value) FROM evaluation_daily"
            " WHERE subject_kind = :kind AND day >= :d0 AND day <= :d1"
        )
        params: dict[str, Any] = {"kind": kind.value, "d0": period.start, "d1": period.end}
        if subjects is not None:
            sql += " AND subject_id = ANY(:subjects)"
            params["subjects"] = list(subjects)
        sql += " GROUP BY day, measure"
        for day, measure, value in (await session.execute(text(sql), params)).all():
            out[day][measure] += float(value)
    wanted = None if subjects is None else set(subjects)
    for part in raw_ranges:
        t0, t1 = part.bounds()
        for _kind, day, subject, measure, value in await raw_facts(session, [kind], t0, t1, by_day=True):
            if wanted is None or subject in wanted:
                out[day][measure] += float(value)
    return {d: dict(m) for d, m in out.items()}, label


async def first_event_day(session: AsyncSession) -> date | None:
    first = await session.scalar(select(func.min(CaseEvent.created_at)))
    return None if first is None else rules.shanghai_day(first)


async def pool_carry(
    session: AsyncSession, kind: SubjectKind, before: date, source: Source = Source.auto, *, memo: Memo | None = None
) -> Totals:
    """上期结转 — each subject's cases still in its 应结案 pool when ``before`` begins:
    Σ (pool_in − pool_out) over every earlier day."""
    first = await first_event_day(session)
    if first is None or first >= before:
        return {}
    history, _ = await totals(
        session, kind, Period(first, before - timedelta(days=1)), source, measures=POOL_MEASURES, memo=memo
    )
    return {s: {"pool_start": m.get("pool_in", 0.0) - m.get("pool_out", 0.0)} for s, m in history.items()}


# --- weights ------------------------------------------------------------------------------------------


async def current_weights(session: AsyncSession) -> dict[Post, dict[str, float]]:
    """The composite weights per post: an administrator's where set, the defaults of DESIGN §5 elsewhere."""
    weights = {post: dict(w) for post, w in rules.DEFAULT_WEIGHTS.items()}
    for row in (await session.scalars(select(EvaluationWeights))).all():
        if row.post in Post.__members__:
            weights[Post(row.post)] = {k: float(v) for k, v in row.weights.items()}
    return weights


async def set_weights(
    session: AsyncSession, post: Post, weights: Mapping[str, float], *, by: str | None
) -> dict[str, float]:
    clean = rules.validate_weights(post, weights)
    row = await session.get(EvaluationWeights, post.value)
    if row is None:
        session.add(EvaluationWeights(post=post.value, weights=clean, updated_by=by))
    else:
        row.weights = clean
        row.updated_by = by
    await session.flush()
    return clean


async def reset_weights(session: AsyncSession, post: Post) -> dict[str, float]:
    row = await session.get(EvaluationWeights, post.value)
    if row is not None:
        await session.delete(row)
        await session.flush()
    return dict(rules.DEFAULT_WEIGHTS[post])


# --- views --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GridInfo:
    code: str
    community_code: str
    street_code: str
    district_code: str
    area_km2: float

    def at(self, view: View) -> str:
        return {
            View.district: self.district_code,
            View.street: self.street_code,
            View.community: self.community_code,
            View.grid: self.code,
        }[view]

    def within(self, code: str | None) -> bool:
        return code is None or code in {self.district_code, self.street_code, self.community_code, self.code}


async def _grids(session: AsyncSession) -> list[_GridInfo]:
    rows = await session.execute(
        select(Grid.code, Grid.community_code, Grid.street_code, Grid.district_code, Grid.area_km2).order_by(Grid.code)
    )
    return [_GridInfo(*r) for r in rows.all()]


async def _region_names(session: AsyncSession, view: View, codes: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """code → (name, parent code) for the regions of one level."""
    model: Any = {View.district: District, View.street: Street, View.community: Community, View.grid: Grid}[view]
    parent: Any = {
        View.district: None,
        View.street: Street.district_code,
        View.community: Community.street_code,
        View.grid: Grid.community_code,
    }[view]
    columns = [model.code, model.name] + ([parent] if parent is not None else [])
    rows = await session.execute(select(*columns).where(model.code.in_(list(codes))))
    return {r[0]: (r[1], r[2] if parent is not None else None) for r in rows.all()}


def _add(into: dict[str, float], measures: Mapping[str, float]) -> None:
    for key, value in measures.items():
        into[key] = into.get(key, 0.0) + value


def _row(
    subject_id: str,
    code: str | None,
    name: str,
    parent: str | None,
    post: Post,
    measures: dict[str, float],
    weights: Mapping[Post, Mapping[str, float]],
) -> Row:
    card = rules.scorecard(post, measures, weights[post])
    return Row(subject_id, code, name, parent, post, measures, card.indicators, card.composite, card.grade)


def _rank(rows: list[Row]) -> list[Row]:
    """Rank within each post by composite (best first); rows without a composite come last, unranked."""
    by_post: dict[Post, list[Row]] = defaultdict(list)
    for row in rows:
        by_post[row.post].append(row)
    ordered: list[Row] = []
    for post_rows in by_post.values():
        for row, position in zip(post_rows, rules.rank([r.composite for r in post_rows]), strict=True):
            row.rank = position
        ordered += sorted(post_rows, key=lambda r: (r.rank is None, r.rank or 0, r.code or r.name))
    return ordered


async def evaluate(
    session: AsyncSession,
    view: View,
    period: Period,
    *,
    source: Source = Source.auto,
    within: str | None = None,
    post: Post | None = None,
    memo: Memo | None = None,
) -> ViewResult:
    """Every subject of ``view`` with its measures, indicators, composite, grade and rank for ``period``.

    ``within`` keeps the regions inside one district/street/community; ``post`` keeps one post of the
    staff view; views evaluated with one ``memo`` read each kind's measures once."""
    weights = await current_weights(session)
    memo = {} if memo is None else memo
    if view.is_region:
        rows, label = await _region_rows(session, view, period, source, within, weights, memo)
    elif view is View.department:
        rows, label = await _department_rows(session, period, source, weights, memo)
    else:
        rows, label = await _staff_rows(session, period, source, post, weights, memo)
    return ViewResult(view, period, _rank(rows), label, weights)


async def _region_rows(
    session: AsyncSession,
    view: View,
    period: Period,
    source: Source,
    within: str | None,
    weights: Mapping[Post, Mapping[str, float]],
    memo: Memo,
) -> tuple[list[Row], str]:
    grids = {g.code: g for g in await _grids(session) if g.within(within)}
    if within is not None and not grids:
        raise NotFound(f"no region with code {within!r}", code="region_not_found")
    per_grid, label = await totals(session, SubjectKind.grid, period, source, memo=memo)
    carry = await pool_carry(session, SubjectKind.grid, period.start, source, memo=memo)
    measures_by_grid: dict[str, dict[str, float]] = {}
    for code, g in grids.items():
        measures = measures_by_grid[code] = {"area_km2": g.area_km2}
        _add(measures, per_grid.get(code, {}))
        _add(measures, carry.get(code, {}))
    regions = rules.roll_up(measures_by_grid, lambda code: grids[code].at(view))
    names = await _region_names(session, view, regions)
    rows = []
    for code, measures in regions.items():
        name, parent = names.get(code, (code, None))
        rows.append(_row(code, code, name, parent, Post.region, measures, weights))
    return rows, label


async def _department_rows(
    session: AsyncSession, period: Period, source: Source, weights: Mapping[Post, Mapping[str, float]], memo: Memo
) -> tuple[list[Row], str]:
    per_dept, label = await totals(session, SubjectKind.department, period, source, memo=memo)
    carry = await pool_carry(session, SubjectKind.department, period.start, source, memo=memo)
    departments = (await session.scalars(select(Department).order_by(Department.code))).all()
    rows = []
    for d in departments:
        key = str(d.id)
        has_data = key in per_dept or key in carry
        if not has_data and (not d.active or d.kind == "command_center"):
            continue
        measures: dict[str, float] = {}
        _add(measures, per_dept.get(key, {}))
        _add(measures, carry.get(key, {}))
        parent = str(d.parent_id) if d.parent_id else None
        rows.append(_row(key, d.code, d.name, parent, Post.department, measures, weights))
    return rows, label


def staff_posts(roles: Iterable[str]) -> list[Post]:
    """The posts a staff member is evaluated in: 采集员, 受理员 or 值班长 (one of the two), 派遣员."""
    have = set(roles)
    posts = []
    if "collector" in have:
        posts.append(Post.collector)
    if "shift_lead" in have:
        posts.append(Post.shift_lead)
    elif "seat" in have:
        posts.append(Post.seat)
    if "dispatcher" in have:
        posts.append(Post.dispatcher)
    return posts


async def _staff_rows(
    session: AsyncSession,
    period: Period,
    source: Source,
    only: Post | None,
    weights: Mapping[Post, Mapping[str, float]],
    memo: Memo,
) -> tuple[list[Row], str]:
    if only is not None and only not in STAFF_POSTS:
        raise ValidationFailed(f"{only.value} is not a staff post", code="invalid_post")
    per_staff, label = await totals(session, SubjectKind.staff, period, source, memo=memo)
    missed, _ = await totals(session, SubjectKind.grid, period, source, memo=memo)
    staff = (await session.scalars(select(Staff).order_by(Staff.username))).all()
    rows = []
    for s in staff:
        key = str(s.id)
        if not s.active and key not in per_staff:
            continue
        for post in staff_posts(s.roles):
            if only is not None and post is not only:
                continue
            measures = dict(per_staff.get(key, {}))
            if post is Post.collector:
                measures["missed"] = sum(missed.get(g, {}).get("missed", 0.0) for g in s.grid_codes or [])
            rows.append(_row(key, s.username, s.name, None, post, measures, weights))
    return rows, label


def ten_worst(result: ViewResult, n: int = 10) -> list[Row]:
    """十差 — the ``n`` lowest composites of each post in the view, lowest first."""
    out: list[Row] = []
    for post in result.posts:
        rows = [r for r in result.rows if r.post is post]
        out += [rows[i] for i in rules.worst([r.composite for r in rows], n)]
    return out


# --- trends -------------------------------------------------------------------------------------------


async def trend(
    session: AsyncSession,
    view: View,
    subject: str | None,
    indicator: str,
    period: Period,
    bucket: Granularity,
    *,
    post: Post | None = None,
    source: Source = Source.auto,
) -> Trend:
    """One indicator (or ``composite``) of one subject — or of the whole city for a region view or of all
    departments together when ``subject`` is None — per day, week or month of ``period``."""
    weights = await current_weights(session)
    name, chosen_post, daily, carry, area = await _trend_inputs(session, view, subject, period, post, source)
    if indicator != "composite" and indicator not in POST_INDICATORS[chosen_post]:
        raise ValidationFailed(
            f"{indicator!r} is not an indicator of {chosen_post.value}",
            code="unknown_indicator",
            details={"indicators": ["composite", *POST_INDICATORS[chosen_post]]},
        )
    points = []
    pool = carry
    for part in rules.buckets(period, bucket):
        measures: dict[str, float] = {"pool_start": pool, "area_km2": area}
        for day in part.each_day():
            _add(measures, daily.get(day, {}))
        pool += measures.get("pool_in", 0.0) - measures.get("pool_out", 0.0)
        if indicator == "composite":
            value = rules.scorecard(chosen_post, measures, weights[chosen_post]).composite
        else:
            value = INDICATORS[indicator].value(measures)
        points.append(TrendPoint(rules.bucket_label(part, bucket), part.start, part.end, value))
    return Trend(view, subject, name, chosen_post, indicator, bucket, period, points)


async def _trend_inputs(
    session: AsyncSession, view: View, subject: str | None, period: Period, post: Post | None, source: Source
) -> tuple[str, Post, Series, float, float]:
    """(subject name, post, daily measures, pool carried in, area)."""
    if view.is_region:
        grids = [g for g in await _grids(session) if subject is None or g.at(view) == subject]
        if not grids:
            raise NotFound("no such region", code="region_not_found")
        codes = [g.code for g in grids]
        names = {} if subject is None else await _region_names(session, view, [subject])
        name = "全市" if subject is None else names.get(subject, (subject, None))[0]
        daily, _ = await series(session, SubjectKind.grid, period, None if subject is None else codes, source)
        carry = await pool_carry(session, SubjectKind.grid, period.start, source)
        pool = sum(carry.get(c, {}).get("pool_start", 0.0) for c in codes)
        return name, Post.region, daily, pool, sum(g.area_km2 for g in grids)
    if view is View.department:
        if subject is None:
            name = "全部部门"
        else:
            dept = await session.get(Department, _uuid(subject))
            if dept is None:
                raise NotFound("no such department", code="department_not_found")
            name = dept.name
        subjects = None if subject is None else [subject]
        daily, _ = await series(session, SubjectKind.department, period, subjects, source)
        carry = await pool_carry(session, SubjectKind.department, period.start, source)
        pool = sum(m.get("pool_start", 0.0) for s, m in carry.items() if subject is None or s == subject)
        return name, Post.department, daily, pool, 0.0
    if subject is None:
        raise ValidationFailed("a staff trend needs the staff member", code="subject_required")
    staff = await session.get(Staff, _uuid(subject))
    if staff is None:
        raise NotFound("no such staff member", code="staff_not_found")
    posts = staff_posts(staff.roles)
    chosen = post or (posts[0] if posts else None)
    if chosen is None or chosen not in posts:
        raise ValidationFailed("the staff member does not hold that post", code="invalid_post")
    daily, _ = await series(session, SubjectKind.staff, period, [subject], source)
    if chosen is Post.collector and staff.grid_codes:
        missed, _ = await series(session, SubjectKind.grid, period, list(staff.grid_codes), source)
        for day, measures in missed.items():
            daily.setdefault(day, {})["missed"] = measures.get("missed", 0.0)
    return staff.name, chosen, daily, 0.0, 0.0


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such subject", code="subject_not_found") from None
