"""综合评价 — the pure rules of evaluation (DESIGN §5): which case events count for what, the indicators
(指标) and their formulas, scoring, the composite (综合指标值), grades, rankings and periods.

No database and no I/O. ``backend.evaluation.facts`` computes the same *measures* in SQL (for speed);
``case_facts`` below is the reference definition in Python, and the tests hold the two to each other.

How counting works
==================

Every count is a number of case events (``case_events``) — never a case's current state — attributed
to the Asia/Shanghai day of the event's ``created_at``. So a day's figures depend only on that day's
events and the earlier events of the same cases, which never change: a closed period keeps its figures,
and a daily rollup summed over any range equals the computation over the range at once.

A rate's numerator is always a subset of the events its denominator counts, so every rate lies in
[0, 1] for any period, even a single day. Where an outcome comes later than the thing it judges (a
report is found valid at 立案, a dispatch is found right when the department finishes it), both are
counted at the *deciding* event: "有效上报率 = valid / reports" reads "of the reports whose 立案 decision
fell in the period, the share found valid". Each judged thing is judged once (the first decision).

结案率 uses a pool (应结案数, cases that should be closed): the cases in the pool when the period starts
(carried over, ``pool_start`` = Σ pool_in − pool_out over every earlier day) plus those entering during it;
结案率 = closures / 应结案数, which is ≤ 1 because a case leaves the pool at most once per entry.

Terms used below
----------------
- *the case's department* at an event: the ``department_id`` of the case's latest ``dispatch`` event
  before it (``data.department_id``), unless a ``return`` came after that dispatch (then none). For a
  ``dispatch`` it is the department dispatched to; for a ``return`` the returning department.
- *closure*: a ``check_pass`` or ``close`` event (结案); *on time* (按时): ``on_time`` is not false.
- *closure on time* (按时结案): no event of the case since its last ``reopen`` (the closure included) has
  ``on_time`` false or is an ``overdue`` (sweep: a stage went red) — every stage met its limit.
- *dispose run*: from a ``dispatch`` or ``check_fail`` (rework) to the next one. A run is judged once on
  time at its ``finish`` if no ``overdue`` event (stage ``dispose``) came first and ``on_time`` is not
  false; it is judged late (超期) at its first ``overdue`` event, or at a late ``finish`` if none came.
- *staff* attribution needs ``actor_kind = staff``; the system's automatic steps count for no person.

Measures per subject kind (what each event adds)
------------------------------------------------
grid (区域; rolled up to community, street and district through the ``grids`` table):
  cases            ``report`` events — every case once, whatever its source (案件数)
  accepted         ``accept`` and ``close_on_spot`` (即办件 are 立案 and 结案 at once) (立案数)
  pool_in          ``accept``, ``close_on_spot``, ``reopen``
  pool_out         closures, ``close_on_spot``, ``merge`` from state ``accepted``
  closed           closures and ``close_on_spot`` (结案数); closed_on_time: those on time
  missed           ``report`` of source ``inspection`` (巡查发现) whose intake found no similar open case
                   reported by a collector (``data.similar``) — the grid's collectors missed it (漏报)
department (the case's department at the event):
  assigned         ``dispatch`` to it, and ``check_fail`` (rework comes back) (应处置数)
  disposed         ``finish`` (处置数)
  disposed_on_time dispose runs judged on time; overdue: judged late (超期处置数)
  returned         ``return`` by it (回退数); checked: ``check_pass``, ``check_fail``, ``close`` of its work;
  reworked         ``check_fail`` (返工数); extended: ``approve_extension`` (延期数)
  pool_in          ``dispatch`` to it; pool_out: ``return`` by it and closures of its cases
  closed           closures of its cases; closed_on_time: closures on time
staff (each staff member, by ``actor_id`` unless said otherwise):
  reports          ``report`` by a collector (actor_role ``collector``) (上报数)
  reports_decided  立案 decisions on cases this collector reported (the case's first event, ``report``,
                   by a collector): ``accept``, ``close_on_spot``, ``reject``, or ``merge`` from
                   ``reported``/``verifying``
  reports_valid    those that were ``accept`` or ``close_on_spot`` (有效上报数)
  verified         ``verify_done`` (核实); verified_on_time: on time
  checked          ``check_pass``/``check_fail`` by a collector (核查); checked_on_time: on time
  accepted         ``accept`` (立案); accepted_on_time: on time
  accept_judged    the first of {closure, ``merge`` from ``accepted``, ``return`` with ``data.invalid``
                   true} after an ``accept``, for the staff member who accepted (准确立案 judged once);
  accept_accurate  those that were closures
  closed           closures of cases this staff member accepted; closed_on_time: on time
  dispatched       ``dispatch`` (派遣); dispatched_on_time: on time
  dispatch_judged  the first ``finish`` or ``return`` after a ``dispatch``, for who dispatched;
  dispatch_returned those that were ``return`` (回退)
satisfaction, for grids and departments (the case's department at the rating):
  rating_sum       Σ ``data.score`` (1–5) of ``rate`` events (满意度评价); rating_count: their number
Added at query time: ``pool_start`` (the carried-over pool), ``area_km2`` (from the grids) and a
collector's ``missed`` (Σ over the grids they are assigned now — grids, not people, are what inspections
find problems in). No event marks a return as "invalid" yet: the return step would need to write
``data.invalid``; until then 准确立案率 is judged by closures and merges only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

from backend.errors import ValidationFailed
from backend.worktime import SHANGHAI

# --- periods (Asia/Shanghai days) ------------------------------------------------------------------

MAX_RANGE_DAYS = 3 * 366


class Granularity(StrEnum):
    """统计周期 — a period's kind, and a trend's bucket."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"

    @property
    def label(self) -> str:
        return {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年"}[self.value]


@dataclass(frozen=True, order=True)
class Period:
    """统计期 — whole Asia/Shanghai days from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed("a period must not end before it starts", code="invalid_period")

    @classmethod
    def of(cls, granularity: Granularity, anchor: date) -> Period:
        """The day, ISO week (Monday first), month, quarter or year containing ``anchor``."""
        if granularity is Granularity.day:
            return cls(anchor, anchor)
        if granularity is Granularity.week:
            start = anchor - timedelta(days=anchor.weekday())
            return cls(start, start + timedelta(days=6))
        if granularity is Granularity.month:
            start = anchor.replace(day=1)
            return cls(start, _next_month(start) - timedelta(days=1))
        if granularity is Granularity.quarter:
            start = date(anchor.year, 3 * ((anchor.month - 1) // 3) + 1, 1)
            return cls(start, _add_months(start, 3) - timedelta(days=1))
        start = date(anchor.year, 1, 1)
        return cls(start, date(anchor.year, 12, 31))

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        """Any range of days, at most ``MAX_RANGE_DAYS`` long."""
        period = cls(start, end)
        if period.days > MAX_RANGE_DAYS:
            raise ValidationFailed(
                f"a period may span at most {MAX_RANGE_DAYS} days",
                code="period_too_long",
                details={"days": period.days},
            )
        return period

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """[start 00:00, day after end 00:00) in Asia/Shanghai, as aware datetimes."""
        return day_start(self.start), day_start(self.end + timedelta(days=1))

    def each_day(self) -> Iterator[date]:
        for i in range(self.days):
            yield self.start + timedelta(days=i)

    @property
    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"


EARLIEST: Final[date] = date(2000, 1, 1)
LATEST: Final[date] = date(2099, 12, 31)


def period_from(
    granularity: Granularity = Granularity.month,
    anchor: date | None = None,
    start: date | None = None,
    end: date | None = None,
    *,
    today: date,
) -> Period:
    """The period a request asks for: ``start``–``end`` when given (both), else the ``granularity``
    (day, week, month, quarter, year) containing ``anchor`` (default: today)."""
    for value in (anchor, start, end):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ValidationFailed(
                f"dates must lie between {EARLIEST} and {LATEST}",
                code="date_out_of_range",
                details={"date": str(value)},
            )
    if start is not None or end is not None:
        if start is None or end is None:
            raise ValidationFailed("give both from and to, or neither", code="invalid_period")
        return Period.between(start, end)
    return Period.of(granularity, anchor or today)


def last_complete(granularity: Granularity, today: date) -> Period:
    """The latest whole period before the one containing ``today`` (last month, last week …)."""
    return Period.of(granularity, Period.of(granularity, today).start - timedelta(days=1))


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _next_month(d: date) -> date:
    return _add_months(d.replace(day=1), 1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def buckets(period: Period, granularity: Granularity) -> list[Period]:
    """The trend buckets covering ``period``: whole days, weeks, months… clipped to the period."""
    out: list[Period] = []
    cursor = period.start
    while cursor <= period.end:
        whole = Period.of(granularity, cursor)
        out.append(Period(cursor, min(whole.end, period.end)))
        cursor = whole.end + timedelta(days=1)
    return out


def bucket_label(bucket: Period, granularity: Granularity) -> str:
    if granularity is Granularity.day:
        return f"{bucket.start:%m-%d}"
    if granularity is Granularity.week:
        iso = bucket.start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if granularity is Granularity.month:
        return f"{bucket.start:%Y-%m}"
    if granularity is Granularity.quarter:
        return f"{bucket.start.year}Q{(bucket.start.month - 1) // 3 + 1}"
    return f"{bucket.start.year}"


# --- measures -----------------------------------------------------------------------------------------


class SubjectKind(StrEnum):
    """What the rollup keeps measures of: unit grids (regions roll up from them), departments, staff."""

    grid = "grid"
    department = "department"
    staff = "staff"


MEASURES: Final[Mapping[str, str]] = {
    "cases": "案件数",
    "accepted": "立案数",
    "pool_in": "进入应结案",
    "pool_out": "离开应结案",
    "pool_start": "上期结转",
    "closed": "结案数",
    "closed_on_time": "按时结案数",
    "missed": "漏报数",
    "assigned": "应处置数",
    "disposed": "处置数",
    "disposed_on_time": "按时处置数",
    "overdue": "超期处置数",
    "returned": "回退数",
    "checked": "核查数",
    "reworked": "返工数",
    "extended": "延期数",
    "reports": "上报数",
    "reports_decided": "已定性上报数",
    "reports_valid": "有效上报数",
    "verified": "核实数",
    "verified_on_time": "按时核实数",
    "checked_on_time": "按时核查数",
    "accepted_on_time": "按时立案数",
    "accept_judged": "已判定立案数",
    "accept_accurate": "准确立案数",
    "dispatched": "派遣数",
    "dispatched_on_time": "按时派遣数",
    "dispatch_judged": "已判定派遣数",
    "dispatch_returned": "被回退派遣数",
    "rating_sum": "评分合计",
    "rating_count": "评价数",
    "area_km2": "面积(km²)",
}
"""Every measure name and its Chinese label. A name means the analogous thing for each subject kind."""

POOL_MEASURES: Final[tuple[str, str]] = ("pool_in", "pool_out")

EVENT_MEASURES: Final[Mapping[SubjectKind, tuple[str, ...]]] = {
    SubjectKind.grid: (
        "cases", "accepted", "pool_in", "pool_out", "closed", "closed_on_time", "missed", "rating_sum", "rating_count",
    ),
    SubjectKind.department: (
        "assigned", "disposed", "disposed_on_time", "overdue", "returned", "checked", "reworked", "extended",
        "pool_in", "pool_out", "closed", "closed_on_time", "rating_sum", "rating_count",
    ),
    SubjectKind.staff: (
        "reports", "reports_decided", "reports_valid", "verified", "verified_on_time", "checked", "checked_on_time",
        "accepted", "accepted_on_time", "accept_judged", "accept_accurate", "closed", "closed_on_time",
        "dispatched", "dispatched_on_time", "dispatch_judged", "dispatch_returned",
    ),
}  # fmt: skip
"""The measures case events produce, per subject kind (what the rollup stores)."""


# --- indicators ----------------------------------------------------------------------------------------


class Unit(StrEnum):
    number = "number"  # a count of events
    rate = "rate"  # a share in [0, 1]
    rating = "rating"  # a mean citizen rating, 1–5
    density = "density"  # per km²


class Polarity(StrEnum):
    """正向/负向 — whether more is better; a negative indicator is scored inversely."""

    positive = "positive"
    negative = "negative"


@dataclass(frozen=True)
class Indicator:
    """指标 — value = Σ numerator / Σ denominator (or 1 − that, ``complement``); a count has no denominator."""

    key: str
    label: str
    unit: Unit
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()
    polarity: Polarity = Polarity.positive
    complement: bool = False
    formula: str = ""

    @property
    def scored(self) -> bool:
        """Whether the indicator can enter a composite (rates and ratings; not counts or densities)."""
        return self.unit in {Unit.rate, Unit.rating}

    def value(self, measures: Mapping[str, float]) -> float | None:
        top = sum(measures.get(m, 0.0) for m in self.numerator)
        if not self.denominator:
            return float(top)
        bottom = sum(measures.get(m, 0.0) for m in self.denominator)
        if bottom <= 0:
            return None
        ratio = top / bottom
        return 1.0 - ratio if self.complement else ratio

    def score(self, value: float | None) -> float | None:
        """0–100 points: a rate ×100 (a negative one inverted: (1 − rate) ×100); a 1–5 rating mapped linearly."""
        if value is None or not self.scored:
            return None
        points = (value - 1.0) / 4.0 * 100.0 if self.unit is Unit.rating else value * 100.0
        if self.polarity is Polarity.negative:
            points = 100.0 - points
        return min(100.0, max(0.0, points))


def _rate(key: str, label: str, num: str, den: tuple[str, ...], formula: str, **kw: Any) -> Indicator:
    return Indicator(key, label, Unit.rate, (num,), den, formula=formula, **kw)


def _count(key: str, label: str, measure: str) -> Indicator:
    return Indicator(key, label, Unit.number, (measure,), formula=MEASURES[measure])


# fmt: off
_INDICATORS: list[Indicator] = [
    _count("cases", "案件数", "cases"),
    Indicator(
        "cases_per_km2", "案件密度(件/km²)", Unit.density, ("cases",), ("area_km2",), formula="案件数 / 面积(km²)"
    ),
    _count("accepted", "立案数", "accepted"),
    Indicator("close_due", "应结案数", Unit.number, ("pool_start", "pool_in"), formula="上期结转 + 本期进入"),
    _count("closed", "结案数", "closed"),
    _rate("close_rate", "结案率", "closed", ("pool_start", "pool_in"), "结案数 / 应结案数"),
    _rate("closed_on_time_rate", "按时结案率", "closed_on_time", ("closed",), "按时结案数 / 结案数"),
    Indicator(
        "satisfaction", "满意度", Unit.rating, ("rating_sum",), ("rating_count",), formula="评分合计 / 评价数 (1–5 分)"
    ),
    _count("assigned", "应处置数", "assigned"),
    _count("disposed", "处置数", "disposed"),
    _count("disposed_on_time", "按时处置数", "disposed_on_time"),
    _count("overdue", "超期处置数", "overdue"),
    _rate(
        "dispose_on_time_rate", "按时处置率", "disposed_on_time", ("disposed_on_time", "overdue"),
        "按时处置数 / (按时处置数 + 超期处置数)",
    ),
    _count("reworked", "返工数", "reworked"),
    _rate("rework_rate", "返工率", "reworked", ("checked",), "返工数 / 核查数", polarity=Polarity.negative),
    _count("returned", "回退数", "returned"),
    _count("extended", "延期数", "extended"),
    _count("reports", "上报数", "reports"),
    _count("reports_valid", "有效上报数", "reports_valid"),
    _rate("valid_report_rate", "有效上报率", "reports_valid", ("reports_decided",), "有效上报数 / 已定性上报数"),
    _rate("verify_on_time_rate", "按时核实率", "verified_on_time", ("verified",), "按时核实数 / 核实数"),
    _rate("check_on_time_rate", "按时核查率", "checked_on_time", ("checked",), "按时核查数 / 核查数"),
    _count("missed", "漏报数", "missed"),
    _rate(
        "missed_rate", "漏报率", "missed", ("reports", "missed"), "漏报数 / (上报数 + 漏报数)",
        polarity=Polarity.negative,
    ),
    _rate("accept_on_time_rate", "按时立案率", "accepted_on_time", ("accepted",), "按时立案数 / 立案数"),
    _rate("accept_accuracy", "准确立案率", "accept_accurate", ("accept_judged",), "准确立案数 / 已判定立案数"),
    _count("dispatched", "派遣数", "dispatched"),
    _rate("dispatch_on_time_rate", "按时派遣率", "dispatched_on_time", ("dispatched",), "按时派遣数 / 派遣数"),
    _rate(
        "dispatch_accuracy", "准确派遣率", "dispatch_returned", ("dispatch_judged",), "1 − 被回退派遣数 / 已判定派遣数",
        complement=True,
    ),
]
# fmt: on
INDICATORS: Final[Mapping[str, Indicator]] = {i.key: i for i in _INDICATORS}
"""Every indicator, by key — the one place an indicator's formula and polarity are defined."""


class Post(StrEnum):
    """考核对象 — whose indicator set and composite weights apply."""

    region = "region"
    department = "department"
    collector = "collector"
    seat = "seat"
    shift_lead = "shift_lead"
    dispatcher = "dispatcher"

    @property
    def label(self) -> str:
        return POST_LABELS[self]


POST_LABELS: Final[Mapping[Post, str]] = {
    Post.region: "区域",
    Post.department: "专业部门",
    Post.collector: "信息采集员",
    Post.seat: "受理员",
    Post.shift_lead: "值班长",
    Post.dispatcher: "派遣员",
}

POST_INDICATORS: Final[Mapping[Post, tuple[str, ...]]] = {
    Post.region: (
        "cases", "cases_per_km2", "accepted", "close_due", "closed", "close_rate", "closed_on_time_rate",
        "satisfaction", "missed",
    ),
    Post.department: (
        "assigned", "disposed", "disposed_on_time", "overdue", "dispose_on_time_rate", "reworked", "rework_rate",
        "returned", "extended", "close_due", "closed", "close_rate", "closed_on_time_rate", "satisfaction",
    ),
    Post.collector: (
        "reports", "reports_valid", "valid_report_rate", "verify_on_time_rate", "check_on_time_rate", "missed",
        "missed_rate",
    ),
    Post.seat: ("accepted", "accept_on_time_rate", "accept_accuracy", "closed", "closed_on_time_rate"),
    Post.shift_lead: ("accepted", "accept_on_time_rate", "accept_accuracy", "closed", "closed_on_time_rate"),
    Post.dispatcher: ("dispatched", "dispatch_on_time_rate", "dispatch_accuracy"),
}  # fmt: skip

# fmt: off
DEFAULT_WEIGHTS: Final[Mapping[Post, Mapping[str, float]]] = {
    # DESIGN §5: 有效上报率×40% + (1−漏报率)×20% + 按时核实率×20% + 按时核查率×20%.
    Post.collector: {"valid_report_rate": 40, "missed_rate": 20, "verify_on_time_rate": 20, "check_on_time_rate": 20},
    Post.seat: {"accept_on_time_rate": 40, "accept_accuracy": 30, "closed_on_time_rate": 30},
    Post.shift_lead: {"accept_on_time_rate": 40, "accept_accuracy": 30, "closed_on_time_rate": 30},
    Post.dispatcher: {"dispatch_on_time_rate": 50, "dispatch_accuracy": 50},
    Post.department: {
        "dispose_on_time_rate": 30, "close_rate": 20, "closed_on_time_rate": 20, "rework_rate": 15,
        "satisfaction": 15,
    },
    Post.region: {"close_rate": 35, "closed_on_time_rate": 35, "satisfaction": 30},
}
# fmt: on
"""综合指标值 weights per post (points; normalised by their sum). Administrators override them per post."""


MAX_WEIGHT: Final[float] = 1000.0


def validate_weights(post: Post, weights: Mapping[str, float]) -> dict[str, float]:
    """Weights a post may use: scored indicators of its own set, each from 0 to ``MAX_WEIGHT`` (they are
    normalised by their sum), at least one above 0."""
    problems: list[dict[str, str | None]] = []
    allowed = {k for k in POST_INDICATORS[post] if INDICATORS[k].scored}
    for key, weight in weights.items():
        if key not in allowed:
            problems.append({"indicator": key, "message": f"not a scored indicator of {post.value}"})
        elif not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
            problems.append({"indicator": key, "message": f"a weight must be a number from 0 to {MAX_WEIGHT}"})
    if not problems and not any(w > 0 for w in weights.values()):
        problems.append({"indicator": None, "message": "at least one weight must be above 0"})
    if problems:
        raise ValidationFailed(
            "invalid composite weights", code="invalid_weights", details={"post": post.value, "problems": problems}
        )
    return {k: float(v) for k, v in weights.items()}


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


GRADE_FLOORS: Final[tuple[tuple[Grade, float], ...]] = ((Grade.A, 90), (Grade.B, 75), (Grade.C, 60), (Grade.D, 40))
GRADE_LABELS: Final[Mapping[Grade, str]] = {
    Grade.A: "优秀", Grade.B: "良好", Grade.C: "合格", Grade.D: "较差", Grade.E: "差",
}  # fmt: skip


def grade(composite: float | None) -> Grade | None:
    """A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E; no grade without a composite."""
    if composite is None:
        return None
    for g, floor in GRADE_FLOORS:
        if composite >= floor - 1e-9:
            return g
    return Grade.E


@dataclass
class Scorecard:
    """One subject's indicators for one post, with its composite (综合指标值) and grade."""

    indicators: dict[str, float | None]
    scores: dict[str, float | None]
    composite: float | None
    grade: Grade | None


def indicators_of(post: Post, measures: Mapping[str, float]) -> dict[str, float | None]:
    return {key: INDICATORS[key].value(measures) for key in POST_INDICATORS[post]}


def composite(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Σ weight × score / Σ weight over the indicators that have a value: an indicator with nothing to
    judge in the period (no denominator) is left out rather than counted as 0 or 100."""
    total = 0.0
    weight_sum = 0.0
    for key, weight in weights.items():
        score = scores.get(key)
        if score is None or weight <= 0:
            continue
        total += weight * score
        weight_sum += weight
    if weight_sum <= 0:
        return None
    return total / weight_sum


def scorecard(post: Post, measures: Mapping[str, float], weights: Mapping[str, float] | None = None) -> Scorecard:
    weights = DEFAULT_WEIGHTS[post] if weights is None else weights
    values = indicators_of(post, measures)
    scores = {k: INDICATORS[k].score(v) for k, v in values.items()}
    value = composite(scores, weights)
    rounded = None if value is None else round(value, 2)
    return Scorecard(values, scores, rounded, grade(rounded))


def rank(values: Sequence[float | None], *, descending: bool = True) -> list[int | None]:
    """Competition ranking (1, 2, 2, 4): equal values share a rank; ``None`` gets no rank."""
    present = sorted((v for v in values if v is not None), reverse=descending)
    first: dict[float, int] = {}
    for i, v in enumerate(present, start=1):
        first.setdefault(v, i)
    return [None if v is None else first[v] for v in values]


def worst(values: Sequence[float | None], n: int = 10) -> list[int]:
    """十差 — the indexes of the ``n`` lowest values (ties broken by position), lowest first."""
    order = sorted((i for i, v in enumerate(values) if v is not None), key=lambda i: (values[i], i))
    return order[:n]


# --- the reference definition: which events add what --------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    """The fields of a ``CaseEvent`` evaluation reads."""

    seq: int
    action: str
    created_at: datetime
    from_state: str | None = None
    actor_kind: str = "system"
    actor_id: str | None = None
    actor_role: str = "system"
    on_time: bool | None = None
    stage: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    day: date
    kind: SubjectKind
    subject: str
    measure: str
    value: int = 1


CLOSURES: Final[frozenset[str]] = frozenset({"check_pass", "close"})
ACCEPT_DECISIONS: Final[frozenset[str]] = frozenset({"accept", "close_on_spot", "reject"})


def _staff(kind: str | None, actor_id: str | None) -> str | None:
    return actor_id if kind == "staff" and actor_id else None


def case_facts(
    grid_code: str | None,
    events: Sequence[EventRow],
    *,
    collector_reported: Callable[[str], bool] = lambda _: False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Fact]:
    """The facts one case's events add, for events with ``since <= created_at < until``.

    ``events`` are all the case's events (any order; they are walked by ``seq``); earlier ones give the
    context. ``collector_reported(case_id)`` says whether a case was reported by a collector (for 漏报).
    """
    out: list[Fact] = []
    rep_kind: str | None = None
    rep_role: str | None = None
    rep_id: str | None = None
    dispatch: tuple[str | None, str | None] | None = None  # (department, staff id) of the latest dispatch
    dept: str | None = None
    prev_dfr: str | None = None  # latest of dispatch / finish / return
    accept_by: str | None = None
    prev_acc: str | None = None  # latest of accept / its decisions
    overdue_in_run = False
    late_in_cycle = False

    ordered = sorted(events, key=lambda e: e.seq)
    if ordered:
        rep_kind, rep_role, rep_id = ordered[0].actor_kind, ordered[0].actor_role, ordered[0].actor_id
    for e in ordered:
        a = e.action
        if a == "reopen":
            late_in_cycle = False
        if e.on_time is False or a == "overdue":
            late_in_cycle = True
        counted = (since is None or e.created_at >= since) and (until is None or e.created_at < until)
        day = shanghai_day(e.created_at)
        facts: list[tuple[SubjectKind, str | None, str]] = []
        sums: list[tuple[SubjectKind, str | None, str, int]] = []
        grid = SubjectKind.grid, grid_code
        actor = _staff(e.actor_kind, e.actor_id)
        on_time = e.on_time is not False
        target = str(e.data.get("department_id")) if e.data.get("department_id") else None
        invalid_return = a == "return" and e.data.get("invalid") is True

        if a == "report":
            facts.append((*grid, "cases"))
            if e.data.get("source") == "inspection" and not any(
                collector_reported(str(s)) for s in e.data.get("similar") or []
            ):
                facts.append((*grid, "missed"))
            if e.actor_role == "collector":
                facts.append((SubjectKind.staff, actor, "reports"))
        decision = a in ACCEPT_DECISIONS or (a == "merge" and e.from_state in {"reported", "verifying"})
        if decision and rep_kind == "staff" and rep_role == "collector":
            facts.append((SubjectKind.staff, rep_id, "reports_decided"))
            if a in {"accept", "close_on_spot"}:
                facts.append((SubjectKind.staff, rep_id, "reports_valid"))
        if a == "accept":
            facts += [(*grid, "accepted"), (*grid, "pool_in"), (SubjectKind.staff, actor, "accepted")]
            if on_time:
                facts.append((SubjectKind.staff, actor, "accepted_on_time"))
        if a == "close_on_spot":
            facts += [(*grid, "accepted"), (*grid, "pool_in"), (*grid, "pool_out"), (*grid, "closed")]
            if not late_in_cycle:
                facts.append((*grid, "closed_on_time"))
        if a == "reopen":
            facts.append((*grid, "pool_in"))
        if a == "merge" and e.from_state == "accepted":
            facts.append((*grid, "pool_out"))
        if a in CLOSURES:
            facts += [(*grid, "pool_out"), (*grid, "closed"), (SubjectKind.department, dept, "pool_out")]
            facts += [(SubjectKind.department, dept, "closed"), (SubjectKind.staff, accept_by, "closed")]
            if not late_in_cycle:
                facts += [(*grid, "closed_on_time"), (SubjectKind.department, dept, "closed_on_time")]
                facts.append((SubjectKind.staff, accept_by, "closed_on_time"))
        if a in {"check_pass", "check_fail", "close"}:
            facts.append((SubjectKind.department, dept, "checked"))
        if a == "check_fail":
            facts += [(SubjectKind.department, dept, "reworked"), (SubjectKind.department, dept, "assigned")]
        if a in {"check_pass", "check_fail"} and e.actor_role == "collector":
            facts.append((SubjectKind.staff, actor, "checked"))
            if on_time:
                facts.append((SubjectKind.staff, actor, "checked_on_time"))
        if a == "verify_done":
            facts.append((SubjectKind.staff, actor, "verified"))
            if on_time:
                facts.append((SubjectKind.staff, actor, "verified_on_time"))
        if a == "dispatch":
            facts += [(SubjectKind.department, target, "assigned"), (SubjectKind.department, target, "pool_in")]
            facts.append((SubjectKind.staff, actor, "dispatched"))
            if on_time:
                facts.append((SubjectKind.staff, actor, "dispatched_on_time"))
        if a == "finish":
            facts.append((SubjectKind.department, dept, "disposed"))
            if not overdue_in_run:
                facts.append((SubjectKind.department, dept, "disposed_on_time" if on_time else "overdue"))
        if a == "return":
            facts += [(SubjectKind.department, target, "returned"), (SubjectKind.department, target, "pool_out")]
        if a in {"finish", "return"} and prev_dfr == "dispatch" and dispatch is not None:
            facts.append((SubjectKind.staff, dispatch[1], "dispatch_judged"))
            if a == "return":
                facts.append((SubjectKind.staff, dispatch[1], "dispatch_returned"))
        if a == "overdue" and e.stage == "dispose" and not overdue_in_run:
            facts.append((SubjectKind.department, dept, "overdue"))
        if a == "approve_extension":
            facts.append((SubjectKind.department, dept, "extended"))
        score = e.data.get("score")
        if a == "rate" and isinstance(score, int) and not isinstance(score, bool) and score >= 0:
            for kind, subject in ((SubjectKind.grid, grid_code), (SubjectKind.department, dept)):
                sums.append((kind, subject, "rating_sum", score))
                facts.append((kind, subject, "rating_count"))
        judged = a in CLOSURES or (a == "merge" and e.from_state == "accepted") or invalid_return
        if judged and prev_acc == "accept":
            facts.append((SubjectKind.staff, accept_by, "accept_judged"))
            if a in CLOSURES:
                facts.append((SubjectKind.staff, accept_by, "accept_accurate"))

        if counted:
            out += [Fact(day, kind, subject, measure) for kind, subject, measure in facts if subject]
            out += [Fact(day, kind, subject, measure, value) for kind, subject, measure, value in sums if subject]

        # Context for the events after this one.
        if a == "dispatch":
            dispatch = (target, actor)
            dept = target
            overdue_in_run = False
        if a == "return":
            dept = None
        if a == "check_fail":
            overdue_in_run = False
        if a == "overdue" and e.stage == "dispose":
            overdue_in_run = True
        if a in {"dispatch", "finish", "return"}:
            prev_dfr = a
        if a == "accept":
            accept_by = actor
            prev_acc = "accept"
        elif judged:
            prev_acc = a
    return out


def roll_up(
    measures_by_grid: Mapping[str, Mapping[str, float]], region_of: Callable[[str], str | None]
) -> dict[str, dict[str, float]]:
    """Regions' measures as the sums of their grids' (a grid → its community, street or district)."""
    out: dict[str, dict[str, float]] = {}
    for grid, measures in measures_by_grid.items():
        region = region_of(grid)
        if region is None:
            continue
        into = out.setdefault(region, {})
        for key, value in measures.items():
            into[key] = into.get(key, 0.0) + value
    return out


def sum_facts(facts: Iterable[Fact]) -> dict[tuple[date, SubjectKind, str, str], int]:
    """Facts summed per (day, kind, subject, measure) — the shape of the daily rollup."""
    counts: dict[tuple[date, SubjectKind, str, str], int] = defaultdict(int)
    for f in facts:
        counts[(f.day, f.kind, f.subject, f.measure)] += f.value
    return dict(counts)
