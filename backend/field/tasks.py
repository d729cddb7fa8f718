"""The task inbox (任务) of the field app and the routing of field tasks to collectors.

- collectors (信息采集员): 核实 (cases ``verifying``) and 核查 (cases ``disposed``) in their grids or given
  to them (``Case.field_assignee_id``);
- department handlers and officers (处置人员/执法队员): dispatched cases of their department (派遣/处置中).

Reading goes through ``backend.cases.service`` (``list_cases``/``get_case`` with their object-level
scope), so a case outside the caller's scope does not exist for them (404).

A case entering ``verifying`` or ``disposed`` publishes ``case.field_task``; its job calls
``route_field_task``: the collector responsible for the grid who is on shift, else the nearest collector
on shift (Redis GEO), else a responsible collector off shift (they will see it next shift).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseAction, CaseState, Role
from backend.cases.rules import allowed_actions
from backend.errors import Conflict
from backend.field import attendance, live
from backend.field.attendance import has
from backend.field.enums import TaskKind
from backend.field.settings import get_field_settings
from backend.geo import haversine_m
from backend.models import Case, CaseEvent, Category, Staff
from backend.org import service as org
from backend.org.tokens import StaffClaims
from backend.outbox import publish
from backend.worktime import SHANGHAI

log = logging.getLogger("chengguan.field.tasks")

MAX_PAGE = 100
PUSH_NOTIFY_TOPIC = "push.notify"  # ``push.service.NOTIFY_TOPIC``: backend may publish to it, not import it

TASK_STATES: dict[TaskKind, tuple[CaseState, ...]] = {
    TaskKind.verify: (CaseState.verifying,),
    TaskKind.check: (CaseState.disposed,),
    TaskKind.dispose: (CaseState.dispatched, CaseState.disposing),
}
ROLE_TASKS: dict[Role, tuple[TaskKind, ...]] = {
    Role.collector: (TaskKind.verify, TaskKind.check),
    Role.handler: (TaskKind.dispose,),
    Role.officer: (TaskKind.dispose,),
}
FIELD_ACTIONS: tuple[CaseAction, ...] = (
    CaseAction.verify_done,
    CaseAction.take,
    CaseAction.finish,
    CaseAction.return_,
    CaseAction.request_extension,
    CaseAction.check_pass,
    CaseAction.check_fail,
)
"""The case actions the field app offers (the others belong to the console)."""


async def field_actor(session: AsyncSession, claims: StaffClaims) -> tuple[Staff, cases.Actor]:
    """The signed-in staff member as the case service's ``Actor`` — roles, department and grids from
    the database (a change applies at once), the token's device still the bound one."""
    staff = await org.get_staff(session, claims.staff_id)
    await org.check_device(session, staff.id, claims.device_id)
    return staff, cases.Actor.staff(staff.id, staff.roles, staff.department_id, staff.grid_codes)


def task_kind_of(state: str) -> TaskKind | None:
    for kind, states in TASK_STATES.items():
        if CaseState(state) in states:
            return kind
    return None


def kinds_for(actor: cases.Actor) -> list[TaskKind]:
    return [k for k in TaskKind if any(k in ROLE_TASKS.get(r, ()) for r in actor.roles)]


def field_actions(case: Case, actor: cases.Actor) -> list[CaseAction]:
    """The buttons to show: what the caller's roles may do in the case's state (``rules.allowed_actions``),
    limited to the field actions; no second extension request while one is pending."""
    allowed: set[CaseAction] = set()
    for role in actor.roles:
        allowed.update(allowed_actions(CaseState(case.state), role))
    if case.extension_request is not None:
        allowed.discard(CaseAction.request_extension)
    return [a for a in FIELD_ACTIONS if a in allowed]


@dataclass
class TaskView:
    case: Case
    kind: TaskKind | None
    category_name: str
    assigned_to_me: bool
    actions: list[CaseAction]


@dataclass
class TaskPage:
    items: list[TaskView]
    next_cursor: str | None


@dataclass
class TaskDetail:
    task: TaskView
    events: list[CaseEvent]


async def _category_names(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = await session.execute(select(Category.code, Category.name).where(Category.code.in_(set(codes))))
    return {code: name for code, name in rows.all()}


def _view(case: Case, actor: cases.Actor, names: dict[str, str]) -> TaskView:
    return TaskView(
        case=case,
        kind=task_kind_of(case.state),
        category_name=names.get(case.category_code, case.category_code),
        assigned_to_me=case.field_assignee_id is not None and str(case.field_assignee_id) == actor.id,
        actions=field_actions(case, actor),
    )


async def list_tasks(
    session: AsyncSession,
    actor: cases.Actor,
    *,
    kind: TaskKind | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """任务列表 — the caller's open field tasks, newest first (the case service's scope and cursor)."""
    kinds = [k for k in kinds_for(actor) if kind is None or k == kind]
    if not kinds:
        return TaskPage([], None)
    states = [s.value for k in kinds for s in TASK_STATES[k]]
    page = await cases.list_cases(
        session, actor, cases.CaseFilter(states=states), limit=min(limit, MAX_PAGE), cursor=cursor
    )
    names = await _category_names(session, [c.category_code for c in page.items])
    return TaskPage([_view(c, actor, names) for c in page.items], page.next_cursor)


async def task_detail(session: AsyncSession, actor: cases.Actor, case_id: uuid.UUID) -> TaskDetail:
    """One case as the field app shows it: the task, the actions open to the caller, the timeline."""
    case = await cases.get_case(session, actor, case_id)
    events = await cases.timeline(session, actor, case_id)
    names = await _category_names(session, [case.category_code])
    return TaskDetail(_view(case, actor, names), events)


# --- routing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    collector_id: uuid.UUID
    reason: str  # responsible_on_shift | nearest_on_shift | responsible
    distance_m: float | None = None


async def choose_collector(session: AsyncSession, redis: Redis, case: Case, *, now: datetime) -> Routing | None:
    """Who should go: the grid's collector on shift (the nearest of them if several), else the nearest
    collector on shift, else the grid's collector off shift; None when there is nobody at all."""
    settings = get_field_settings()
    responsible: list[uuid.UUID] = []
    if case.grid_code:
        responsible = list(
            (
                await session.scalars(
                    select(Staff.id)
                    .where(
                        Staff.active.is_(True),
                        has(Staff.roles, Role.collector.value),
                        has(Staff.grid_codes, case.grid_code),
                    )
                    .order_by(Staff.username)
                )
            ).all()
        )
        responsible += [
            s for s in await attendance.shift_collectors_for_grid(session, case.grid_code, now) if s not in responsible
        ]
    on_duty = await attendance.on_shift_staff(session, responsible, now, settings.policy)
    if on_duty:
        best: Routing | None = None
        for staff_id in responsible:
            if staff_id not in on_duty:
                continue
            pos = await live.position_of(redis, staff_id)
            distance = haversine_m(case.lat, case.lng, *pos) if pos else None
            if best is None or (distance is not None and (best.distance_m is None or distance < best.distance_m)):
                best = Routing(staff_id, "responsible_on_shift", distance)
        if best is not None:
            return best
    nearest = await live.nearest_collector(redis, case.lat, case.lng, now=now, ttl_s=settings.live_ttl_s)
    if nearest is not None:
        return Routing(nearest.staff_id, "nearest_on_shift", round(nearest.distance_m, 1))
    if responsible:
        return Routing(responsible[0], "responsible")
    return None


async def route_field_task(
    session: AsyncSession,
    redis: Redis,
    case_id: uuid.UUID,
    *,
    expected_stage_seq: int | None = None,
    now: datetime | None = None,
) -> Routing | None:
    """Give a case's 核实/核查 task to a collector (``cases.service.assign_field_task``) and tell them.

    Nothing happens when the case has left the field state (a late job) or nobody can go."""
    now = now or datetime.now(UTC)
    case = await session.get(Case, case_id)
    if case is None or CaseState(case.state) not in cases.FIELD_TASK_STATES:
        return None
    if expected_stage_seq is not None and case.stage_seq != expected_stage_seq:
        return None
    routing = await choose_collector(session, redis, case, now=now)
    if routing is None:
        log.warning("no collector for the field task of case %s (grid %s)", case.number, case.grid_code)
        return None
    try:
        await cases.assign_field_task(
            session,
            case.id,
            routing.collector_id,
            reason=routing.reason,
            expected_stage_seq=case.stage_seq,
            now=now,
        )
    except Conflict:
        return None
    kind = task_kind_of(case.state)
    await publish(
        session,
        PUSH_NOTIFY_TOPIC,
        {
            "event": "task.assigned",
            "recipients": [{"kind": "staff", "id": str(routing.collector_id), "openid": None, "phone": None}],
            "data": {
                "case_no": case.number,
                "case_id": str(case.id),
                "summary": f"{kind.label if kind else ''}任务",
                "place": f"（{case.address}）" if case.address else "",
                "deadline": f"{case.deadline.astimezone(SHANGHAI):%m月%d日 %H:%M}" if case.deadline else None,
            },
            "dedup_key": f"field_task:{case.id}:{case.stage_seq}",
            "urgent": None,
        },
        dedup_key=f"{PUSH_NOTIFY_TOPIC}:field_task:{case.id}:{case.stage_seq}",
    )
    return routing
