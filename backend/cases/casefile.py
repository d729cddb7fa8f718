"""案卷详情 — everything the console's case page shows about one case, read in one call: the case, its
category, its timeline in words, the departments and people named in it, the ranked dispatch candidates,
similar open cases to merge, and its place (region names and the grid's outline)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.enums import CaseAction, CaseSource, CaseState, Light, Role, Stage, Urgency
from backend.cases.rules import allowed_actions
from backend.cases.service import (
    URGE_ROLES,
    URGE_STATES,
    Actor,
    SimilarCase,
    find_similar,
    get_case,
    get_category,
    timeline,
)
from backend.geo.service import region_names
from backend.models import Case, CaseEvent, Category, Department, Grid, Staff

EVENT_LABELS: Final[dict[str, str]] = {
    **{a.value: a.label for a in CaseAction},
    "report": "上报",
    "urge": "催办",
    "overdue": "超期",
    "merge_in": "合并入",
    "field_assign": "派发外勤任务",
    "follow": "我也遇到",
    "rate": "满意度评价",
}
"""案卷事件 in words: every action of the state machine plus the events that keep the state."""

CONSOLE_ACTIONS: Final = (
    CaseAction.accept, CaseAction.verify_request, CaseAction.reject, CaseAction.dispatch,
    CaseAction.approve_extension, CaseAction.deny_extension, CaseAction.suspend, CaseAction.resume,
    CaseAction.close, CaseAction.reopen, CaseAction.merge,
)  # fmt: skip
"""What the console's buttons do (collectors' and handlers' steps are the field app's)."""


def label(enum: type[Any], value: str | None) -> str:
    if value is None:
        return "—"
    return enum(value).label if value in enum.__members__ else value


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    label: str
    actor: str
    role: str
    from_state: str | None
    to_state: str
    note: str
    detail: str


@dataclass(frozen=True)
class CandidateView:
    department_id: str
    name: str
    score: float
    confidence: float


@dataclass(frozen=True)
class CaseFile:
    case: Case
    category: Category
    state_label: str
    source_label: str
    urgency_label: str
    stage_label: str
    light_label: str
    main_department: str | None
    assist_departments: list[str]
    timeline: list[TimelineEntry]
    candidates: list[CandidateView]
    departments: list[Department]
    similar: list[SimilarCase]
    regions: dict[str, str]
    grid_boundary: dict[str, Any] | None
    actions: list[CaseAction]
    can_urge: bool

    @property
    def merge_allowed(self) -> bool:
        return CaseAction.merge in self.actions


def actions_for(actor: Actor, case: Case) -> tuple[list[CaseAction], bool]:
    """The console buttons the actor's roles allow on the case now (``rules.allowed_actions`` for each
    role), and whether they may urge it."""
    state = CaseState(case.state)
    allowed: set[CaseAction] = set()
    for role in actor.roles:
        allowed.update(allowed_actions(state, role))
    if case.extension_request is None:
        allowed -= {CaseAction.approve_extension, CaseAction.deny_extension}
    actions: list[CaseAction] = [a for a in CONSOLE_ACTIONS if a in allowed]
    return actions, bool(actor.roles & set(URGE_ROLES)) and state in URGE_STATES


def _detail(event: CaseEvent, departments: dict[str, str]) -> str:
    data = event.data or {}
    parts = []
    if event.action == "dispatch" and data.get("department_id"):
        parts.append(f"派往 {departments.get(data['department_id'], data['department_id'])}")
        assists = [departments.get(a, a) for a in data.get("assist_department_ids") or []]
        if assists:
            parts.append("协办 " + "、".join(assists))
        if data.get("override"):
            parts.append("（未采用首选候选）")
    if event.action == "return" and data.get("department_id"):
        parts.append(f"{departments.get(data['department_id'], '')}回退")
    if event.action in {"request_extension", "approve_extension", "deny_extension"} and data.get("amount"):
        unit = {"working_hours": "工作小时", "working_days": "工作日", "natural_hours": "小时"}
        parts.append(f"{data['amount']:g} {unit.get(data.get('unit', ''), data.get('unit', ''))}")
    if event.action in {"merge", "merge_in"}:
        number = data.get("into_number") or data.get("merged_number")
        if number:
            parts.append(f"案卷 {number}")
    if event.action in {"urge", "overdue"} and data.get("light"):
        parts.append(label(Light, data["light"]))
    if event.action == "report" and data.get("source"):
        parts.append(label(CaseSource, data["source"]))
    return "；".join(parts)


async def case_file(session: AsyncSession, actor: Actor, case_id: uuid.UUID, *, similar: bool = True) -> CaseFile:
    case = await get_case(session, actor, case_id)
    category = await get_category(session, case.category_code)
    events = await timeline(session, actor, case_id)
    departments = list((await session.scalars(select(Department).order_by(Department.code))).all())
    names = {str(d.id): d.name for d in departments}
    staff_ids = {
        uuid.UUID(e.actor_id) for e in events if e.actor_kind == "staff" and e.actor_id and _is_uuid(e.actor_id)
    }
    people = {}
    if staff_ids:
        rows = await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))
        people = {str(i): n for i, n in rows.all()}
    entries = [
        TimelineEntry(
            seq=e.seq, at=e.created_at, action=e.action, label=EVENT_LABELS.get(e.action, e.action),
            actor=people.get(e.actor_id or "", "") if e.actor_kind == "staff" else
            {"system": "系统", "citizen": "市民", "device": "设备"}.get(e.actor_kind, e.actor_kind),
            role=label(Role, e.actor_role), from_state=label(CaseState, e.from_state) if e.from_state else None,
            to_state=label(CaseState, e.to_state), note=e.note, detail=_detail(e, names),
        )
        for e in events
    ]  # fmt: skip
    candidates = [
        CandidateView(c["department_id"], names.get(c["department_id"], c["department_id"]), float(c["score"]),
                      float(c["confidence"]))
        for c in case.dispatch_candidates or []
    ]  # fmt: skip
    found: list[SimilarCase] = []
    if similar and case.state in {s.value for s in (CaseState.reported, CaseState.verifying, CaseState.accepted)}:
        found = await find_similar(session, category, case.lat, case.lng, exclude=case.id)
    regions = await region_names(session, [case.district_code, case.street_code, case.community_code, case.grid_code])
    grid = await session.get(Grid, case.grid_code) if case.grid_code else None
    actions, can_urge = actions_for(actor, case)
    return CaseFile(
        case=case,
        category=category,
        state_label=label(CaseState, case.state),
        source_label=label(CaseSource, case.source),
        urgency_label=label(Urgency, case.urgency),
        stage_label=label(Stage, case.stage) if case.stage else "不计时",
        light_label=label(Light, case.light) if case.stage else Light.none.label,
        main_department=names.get(str(case.main_department_id)) if case.main_department_id else None,
        assist_departments=[names.get(str(a), str(a)) for a in case.assist_department_ids or []],
        timeline=entries,
        candidates=candidates,
        departments=[d for d in departments if d.active],
        similar=found,
        regions=regions,
        grid_boundary=grid.boundary if grid else None,
        actions=actions,
        can_urge=can_urge,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
