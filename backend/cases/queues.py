"""工作队列 — the command centre's case queues (待受理, 待派遣, 黄灯, 红灯, 待核查, 待结案) and the counts
and tallies the console's home page shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.enums import CaseState, Light
from backend.cases.service import OPEN_STATES, Actor, CaseFilter, list_cases
from backend.errors import ValidationFailed
from backend.models import Case, Category, Department, Street
from backend.worktime import SHANGHAI


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    filter: CaseFilter


QUEUES: Final[dict[str, Queue]] = {
    q.key: q
    for q in (
        Queue("to_accept", "待受理", CaseFilter(states=[CaseState.reported.value, CaseState.verifying.value])),
        Queue("to_dispatch", "待派遣", CaseFilter(states=[CaseState.accepted.value, CaseState.reopened.value])),
        Queue("yellow", "黄灯预警", CaseFilter(states=OPEN_STATES, light=Light.yellow.value)),
        Queue("red", "红灯超期", CaseFilter(states=OPEN_STATES, light=Light.red.value)),
        # 核查 is a collector's field task; without a collector on it, the seat closes the case (结案).
        Queue("to_check", "待核查", CaseFilter(states=[CaseState.disposed.value], field_assigned=True)),
        Queue("to_close", "待结案", CaseFilter(states=[CaseState.disposed.value], field_assigned=False)),
        Queue("open", "全部在办", CaseFilter(states=OPEN_STATES)),
        Queue("all", "全部案卷", CaseFilter()),
    )
}


def queue_filter(key: str, **narrow: Any) -> CaseFilter:
    """The queue's filter narrowed by street, category, source or light (blank values are ignored)."""
    queue = QUEUES.get(key)
    if queue is None:
        raise ValidationFailed(f"unknown queue {key!r}", code="unknown_queue")
    given = {k: v for k, v in narrow.items() if v}
    if "light" in given and given["light"] not in {Light.green.value, Light.yellow.value, Light.red.value}:
        raise ValidationFailed("light must be green, yellow or red", code="invalid_light")
    return replace(queue.filter, **given)


def _condition(f: CaseFilter) -> Any:
    clauses: list[Any] = []
    if f.states:
        clauses.append(Case.state.in_(f.states))
    if f.light:
        clauses.extend([Case.light == f.light, Case.stage.is_not(None)])
    if f.field_assigned is not None:
        clauses.append(Case.field_assignee_id.is_not(None) if f.field_assigned else Case.field_assignee_id.is_(None))
    return and_(true(), *clauses)


@dataclass(frozen=True)
class DepartmentTally:
    department_id: uuid.UUID | None
    name: str
    count: int


@dataclass(frozen=True)
class CaseOverview:
    queue_counts: dict[str, int]
    intake_today: dict[str, int]  # source → cases reported today (Asia/Shanghai)
    open_by_light: dict[str, int]  # green / yellow / red / none (no clock: suspended)
    overdue_by_department: list[DepartmentTally]


def shanghai_midnight(now: datetime) -> datetime:
    local = now.astimezone(SHANGHAI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def queue_counts(session: AsyncSession) -> dict[str, int]:
    """How many cases wait in each queue (one statement over the open cases)."""
    counted = [q for q in QUEUES.values() if q.key != "all"]
    row = (
        await session.execute(
            select(*[func.count().filter(_condition(q.filter)).label(q.key) for q in counted]).select_from(Case)
            .where(Case.state.in_(OPEN_STATES))
        )
    ).one()  # fmt: skip
    return {q.key: int(getattr(row, q.key)) for q in counted}


async def overview(session: AsyncSession, now: datetime) -> CaseOverview:
    """Queue sizes, today's intake by source, open cases by light, red (超期) cases by department."""
    queue_counts_now = await queue_counts(session)

    start = shanghai_midnight(now)
    intake = await session.execute(
        select(Case.source, func.count())
        .where(Case.created_at >= start, Case.created_at < start + timedelta(days=1))
        .group_by(Case.source)
    )
    intake_today = {source: int(n) for source, n in intake.all()}

    lights = await session.execute(
        select(func.coalesce(func.nullif(Case.light, ""), "none"), Case.stage.is_(None), func.count())
        .where(Case.state.in_(OPEN_STATES))
        .group_by(Case.light, Case.stage.is_(None))
    )
    open_by_light = {"green": 0, "yellow": 0, "red": 0, "none": 0}
    for light, no_clock, n in lights.all():
        key = "none" if no_clock else str(light)
        open_by_light[key] = open_by_light.get(key, 0) + int(n)

    overdue = await session.execute(
        select(Case.main_department_id, Department.name, func.count())
        .outerjoin(Department, Department.id == Case.main_department_id)
        .where(Case.state.in_(OPEN_STATES), Case.light == Light.red.value, Case.stage.is_not(None))
        .group_by(Case.main_department_id, Department.name)
        .order_by(func.count().desc())
    )
    tallies = [DepartmentTally(d, name or "指挥中心（未派遣）", int(n)) for d, name, n in overdue.all()]
    return CaseOverview(queue_counts_now, intake_today, open_by_light, tallies)


@dataclass(frozen=True)
class QueueRow:
    case: Case
    category_name: str
    street_name: str
    department_name: str


@dataclass(frozen=True)
class QueuePage:
    queue: Queue
    rows: list[QueueRow]
    next_cursor: str | None
    counts: dict[str, int]
    streets: list[tuple[str, str]]
    categories: list[tuple[str, str]]


async def queue_page(
    session: AsyncSession,
    actor: Actor,
    key: str,
    *,
    street: str | None = None,
    category: str | None = None,
    source: str | None = None,
    light: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of a queue, newest first, narrowed by street, category, source and light, with the names
    its rows show and the sizes of every queue (for the tabs)."""
    narrowed = queue_filter(key, street_code=street, category_code=category, source=source, light=light)
    page = await list_cases(session, actor, narrowed, limit=limit, cursor=cursor)
    categories = [(c, n) for c, n in (await session.execute(select(Category.code, Category.name)
                                                             .order_by(Category.code))).all()]  # fmt: skip
    streets = [(c, n) for c, n in (await session.execute(select(Street.code, Street.name).order_by(Street.code))).all()]
    department_ids = {c.main_department_id for c in page.items if c.main_department_id}
    departments: dict[uuid.UUID, str] = {}
    if department_ids:
        rows = await session.execute(select(Department.id, Department.name).where(Department.id.in_(department_ids)))
        departments = {i: n for i, n in rows.all()}
    category_names, street_names = dict(categories), dict(streets)
    return QueuePage(
        queue=QUEUES[key],
        rows=[
            QueueRow(
                case=c,
                category_name=category_names.get(c.category_code, c.category_code),
                street_name=street_names.get(c.street_code or "", "—"),
                department_name=departments.get(c.main_department_id, "—") if c.main_department_id else "—",
            )
            for c in page.items
        ],
        next_cursor=page.next_cursor,
        counts=await queue_counts(session),
        streets=streets,
        categories=categories,
    )
