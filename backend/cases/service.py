"""案卷服务 — the one service every surface uses to move a case through its life (DESIGN §2).

Every method takes the caller's ``Actor``; the role check comes from the pure state machine
(``backend.cases.rules``), the object-level scope from here (a handler acts only on their department's
cases, a collector only on their grids'; anyone else out of scope gets ``NotFound``, never a hint that
the case exists). Every step appends a ``CaseEvent`` and an outbox message ``case.event`` in the same
transaction. Optimistic concurrency: the case row carries a version; of two people acting on one case
at once, the second gets ``Conflict`` (409).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
from h3.api import basic_int as h3_int
from sqlalchemy import Select, and_, func, or_, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from backend.cases import clock as clocks
from backend.cases import numbers
from backend.cases.enums import CaseAction, CaseKind, CaseSource, CaseState, Role, Urgency
from backend.cases.rules import FINAL_STATES, can_perform, stage_for, transition
from backend.catalog.cache import CATEGORIES, CategoryInfo
from backend.catalog.rules import divert_for, validate_answers
from backend.dispatch.rules import AreaScope, CaseLocation, DispatchRule, after_return, after_success, resolve
from backend.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from backend.geo import EARTH_RADIUS_M, GridGeocoder, cell_ids_within, validate_lat_lng
from backend.models import (
    Case,
    CaseEvent,
    CaseReporter,
    Category,
    Department,
    DispatchRuleRow,
    OutboxMessage,
    Staff,
    new_id,
)
from backend.outbox import publish
from backend.outbox.service import OUTBOX_FLAG
from backend.worktime import DEFAULT_CALENDAR, WorkingCalendar

FIELD_TASK_TOPIC = "case.field_task"
FIELD_TASK_STATES = frozenset({CaseState.verifying, CaseState.disposed})
"""States whose work is a collector's field task: 核实 (verifying) and 核查 (disposed)."""
REPORTER_KEY = ("case_id", "reporter_kind", "reporter_id")
"""The columns of ``uq_case_reporters_case_reporter``: one row per reporter and case."""
SIMILAR_RES = 10  # H3 resolution of ``cases.cell`` (~66 m edge): a 50 m radius touches a handful of cells
MAX_PAGE = 200
OPEN_STATES = [s.value for s in CaseState if s not in FINAL_STATES]


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (with their roles, department and grids), a citizen, or the system."""

    kind: str  # staff | citizen | system | device
    id: str | None
    roles: frozenset[Role]
    department_id: uuid.UUID | None = None
    grid_codes: frozenset[str] = frozenset()

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", id=None, roles=frozenset({Role.system}))

    @classmethod
    def staff(
        cls,
        staff_id: uuid.UUID | str,
        roles: Sequence[str],
        department_id: uuid.UUID | None = None,
        grid_codes: Sequence[str] = (),
    ) -> Actor:
        return cls(
            kind="staff",
            id=str(staff_id),
            roles=frozenset(Role(r) for r in roles if r in Role.__members__),
            department_id=department_id,
            grid_codes=frozenset(grid_codes),
        )

    @classmethod
    def citizen(cls, citizen_id: str) -> Actor:
        return cls(kind="citizen", id=citizen_id, roles=frozenset({Role.citizen}))

    def role_for(self, action: CaseAction) -> Role:
        for role in sorted(self.roles):
            if can_perform(role, action):
                return role
        raise Forbidden(
            "your role may not do this",
            code="forbidden",
            details={"action": action.value, "label": action.label},
        )


@dataclass
class IntakeData:
    """What a report brings in, from any source (citizen, collector, hotline, device, …)."""

    source: CaseSource
    category_code: str
    lat: float  # WGS-84: surfaces convert from GCJ-02 at the edge
    lng: float
    description: str = ""
    address: str = ""
    urgency: Urgency | None = None
    kind: CaseKind = CaseKind.promise
    answers: dict[str, Any] = field(default_factory=dict)
    photos: list[str] = field(default_factory=list)
    reporter_phone: str | None = None


@dataclass(frozen=True)
class SimilarCase:
    case_id: uuid.UUID
    number: str
    distance_m: float
    state: str
    created_at: datetime


@dataclass
class IntakeResult:
    case: Case
    similar: list[SimilarCase]
    divert: dict[str, str] | None


@dataclass
class CaseFilter:
    states: list[str] | None = None
    street_code: str | None = None
    category_code: str | None = None
    source: str | None = None
    light: str | None = None
    department_id: uuid.UUID | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    field_assigned: bool | None = None  # a collector holds its field task (核实/核查) — or not


@dataclass
class Page:
    items: list[Case]
    next_cursor: str | None


def _now() -> datetime:
    return datetime.now(UTC)


# --- reading ---------------------------------------------------------------------------------------


async def get_category(session: AsyncSession, code: str) -> Category:
    category = await session.get(Category, code)
    if category is None or not category.active:
        raise ValidationFailed(f"unknown category {code!r}", code="unknown_category", details={"code": code})
    return category


def _in_scope(case: Case, actor: Actor) -> bool:
    if actor.kind == "system":
        return True
    if actor.kind == "citizen":
        return case.reporter_kind == "citizen" and case.reporter_id == actor.id
    command = {Role.seat, Role.dispatcher, Role.shift_lead, Role.admin, Role.auditor}
    if actor.roles & command:
        return True
    if (
        actor.roles & {Role.handler, Role.officer}
        and actor.department_id is not None
        and actor.department_id in [case.main_department_id, *(case.assist_department_ids or [])]
    ):
        return True
    if Role.collector in actor.roles:
        if case.grid_code in actor.grid_codes or (case.field_assignee_id and str(case.field_assignee_id) == actor.id):
            return True
        if case.reporter_kind == "staff" and case.reporter_id == actor.id:
            return True
    return False


async def get_case(session: AsyncSession, actor: Actor, case_id: uuid.UUID, *, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    if for_update:
        stmt = stmt.execution_options(populate_existing=True)
    case = await session.scalar(stmt)
    if case is None or not (_in_scope(case, actor) or await _follows(session, case, actor)):
        raise NotFound("no such case", code="case_not_found")
    return case


async def _follows(session: AsyncSession, case: Case, actor: Actor) -> bool:
    """A citizen who said "me too" (``follow``) or whose report was merged into this case follows it."""
    if actor.kind != "citizen" or actor.id is None:
        return False
    found = await session.scalar(
        select(CaseReporter.id).where(
            CaseReporter.case_id == case.id,
            CaseReporter.reporter_kind == "citizen",
            CaseReporter.reporter_id == actor.id,
        )
    )
    return found is not None


async def timeline(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> list[CaseEvent]:
    await get_case(session, actor, case_id)
    rows = await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
    return list(rows.all())


def _scope_clause(actor: Actor) -> Any:
    if actor.kind == "system" or actor.roles & {Role.seat, Role.dispatcher, Role.shift_lead, Role.admin, Role.auditor}:
        return text("true")
    clauses = []
    if actor.kind == "citizen":
        clauses.append(and_(Case.reporter_kind == "citizen", Case.reporter_id == actor.id))
        followed = select(CaseReporter.case_id).where(
            CaseReporter.reporter_kind == "citizen", CaseReporter.reporter_id == actor.id
        )
        clauses.append(Case.id.in_(followed))
    if actor.roles & {Role.handler, Role.officer} and actor.department_id is not None:
        dept: Any = actor.department_id
        clauses.append(or_(Case.main_department_id == actor.department_id, Case.assist_department_ids.any(dept)))
    if Role.collector in actor.roles:
        clauses.append(Case.grid_code.in_(sorted(actor.grid_codes)))
        if actor.id:
            clauses.append(Case.field_assignee_id == uuid.UUID(actor.id))
    return or_(*clauses) if clauses else text("false")


def _encode_cursor(case: Case) -> str:
    return f"{case.created_at.timestamp():.6f}_{case.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        ts, _, raw_id = cursor.partition("_")
        return datetime.fromtimestamp(float(ts), UTC), uuid.UUID(raw_id)
    except (ValueError, OverflowError, OSError):  # "inf", "1e300", NaN: not a time
        raise ValidationFailed("invalid cursor", code="invalid_cursor") from None


async def list_cases(
    session: AsyncSession, actor: Actor, filters: CaseFilter, *, limit: int = 50, cursor: str | None = None
) -> Page:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    stmt: Select[Any] = select(Case).where(_scope_clause(actor))
    if filters.states:
        stmt = stmt.where(Case.state.in_(filters.states))
    if filters.street_code:
        stmt = stmt.where(Case.street_code == filters.street_code)
    if filters.category_code:
        stmt = stmt.where(Case.category_code == filters.category_code)
    if filters.source:
        stmt = stmt.where(Case.source == filters.source)
    if filters.light:
        stmt = stmt.where(Case.light == filters.light, Case.stage.is_not(None))
    if filters.department_id:
        stmt = stmt.where(Case.main_department_id == filters.department_id)
    if filters.created_from:
        stmt = stmt.where(Case.created_at >= filters.created_from)
    if filters.created_to:
        stmt = stmt.where(Case.created_at < filters.created_to)
    if filters.field_assigned is not None:
        assigned = Case.field_assignee_id.is_not(None)
        stmt = stmt.where(assigned if filters.field_assigned else ~assigned)
    if cursor:
        ts, last_id = _decode_cursor(cursor)
        stmt = stmt.where(or_(Case.created_at < ts, and_(Case.created_at == ts, Case.id < last_id)))
    rows = list((await session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit + 1))).all())
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)


# --- similar cases ---------------------------------------------------------------------------------


# Open cases of a category in a set of H3 cells within the window, with their great-circle distance (the
# haversine on the mean-radius sphere, as ``backend.geo.haversine_m``) to ($4, $5), within $6 metres,
# nearest first. The cells come from ``cell_ids_within``; the partial index ``(category_code, cell) WHERE
# open`` finds the rows, the distance keeps the true neighbours.
SIMILAR_SQL = f"""
SELECT id, number, state, created_at, dist FROM (
    SELECT id, number, state, created_at,
           {2 * EARTH_RADIUS_M!r} * asin(least(1.0, sqrt(
               power(sin(radians(lat - $4) / 2), 2)
               + cos(radians($4)) * cos(radians(lat)) * power(sin(radians(lng - $5) / 2), 2)))) AS dist
      FROM cases
     WHERE category_code = $1 AND cell = ANY($2::bigint[])
       AND state NOT IN ('rejected', 'merged', 'closed') AND created_at >= $3
     LIMIT 200
) near WHERE dist <= $6 ORDER BY dist, id LIMIT $7
"""
SIMILAR_PARAMS = 7
SIMILAR_LIMIT = 10  # neighbours shown at intake and recorded on the report event


def _similar_args(category: Any, lat: float, lng: float, now: datetime, limit: int) -> list[Any]:
    cells = cell_ids_within(lat, lng, category.similar_radius_m, SIMILAR_RES)
    since = now - timedelta(hours=category.similar_window_h)
    return [category.code, cells, since, lat, lng, float(category.similar_radius_m), limit]


def _similar_rows(rows: Sequence[Any], exclude: uuid.UUID | None = None) -> list[SimilarCase]:
    return [
        SimilarCase(row["id"], row["number"], round(row["dist"], 1), row["state"], row["created_at"])
        for row in rows
        if row["id"] != exclude
    ]


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside its transaction — for the few hot statements
    where SQLAlchemy's per-statement overhead is most of the cost (asyncpg caches their plans)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def find_similar(
    session: AsyncSession,
    category: Any,
    lat: float,
    lng: float,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
    limit: int = SIMILAR_LIMIT,
) -> list[SimilarCase]:
    """Open cases of the same category within the category's radius and window, nearest first.

    The H3 cells covering the radius are looked up through the partial index
    ``(category_code, cell) WHERE open`` — never a scan — and the exact distance filters the rest.
    ``category`` is a stored ``Category`` or its cached ``CategoryInfo``."""
    now = now or _now()
    args = _similar_args(category, lat, lng, now, limit + (exclude is not None))
    rows = await (await _driver(session)).fetch(SIMILAR_SQL, *args)
    return _similar_rows(rows, exclude)[:limit]


# --- numbers, events, clocks ------------------------------------------------------------------------


async def next_number(session: AsyncSession, now: datetime) -> str:
    """202611210001 …: see ``backend.cases.numbers`` (Redis when configured, else the counter row)."""
    return await numbers.next_number(session, now)


def _clock_of(case: Case) -> clocks.StageClock | None:
    if case.stage is None or case.stage_unit is None or case.stage_limit is None or case.stage_started_at is None:
        return None
    return clocks.StageClock(
        stage=case.stage,
        unit=case.stage_unit,
        limit=case.stage_limit,
        started_at=case.stage_started_at,
        consumed=case.stage_consumed,
        segment_started_at=case.segment_started_at,
        yellow_at=case.yellow_at,
        deadline=case.deadline,
    )


def _store_clock(case: Case, clock: clocks.StageClock | None, now: datetime) -> None:
    if clock is None:
        case.stage = None
        case.stage_unit = None
        case.stage_limit = None
        case.stage_started_at = None
        case.stage_consumed = 0.0
        case.segment_started_at = None
        case.yellow_at = None
        case.deadline = None
        case.light = "green"
        return
    case.stage = clock.stage
    case.stage_unit = clock.unit
    case.stage_limit = clock.limit
    case.stage_started_at = clock.started_at
    case.stage_consumed = clock.consumed
    case.segment_started_at = clock.segment_started_at
    case.yellow_at = clock.yellow_at
    case.deadline = clock.deadline
    case.light = clocks.light_at(clock, now)


def _start_stage(
    case: Case, category: Category | CategoryInfo, state: CaseState, now: datetime, calendar: WorkingCalendar
) -> None:
    stage = stage_for(state)
    if stage is None:
        _store_clock(case, None, now)
        return
    limits = category.time_limits.get(case.urgency) or category.time_limits["normal"]
    limit = limits[stage.value]
    case.stage_seq += 1
    _store_clock(case, clocks.start(stage.value, float(limit["amount"]), limit["unit"], now, calendar), now)


async def _append_event(
    session: AsyncSession,
    case: Case,
    actor: Actor,
    role: Role,
    action: str,
    from_state: str | None,
    *,
    note: str = "",
    attachments: Sequence[str] = (),
    data: dict[str, Any] | None = None,
    on_time: bool | None = None,
    now: datetime,
    first: bool = False,
) -> CaseEvent:
    """Append the case's next event and its ``case.event`` outbox message. ``first`` says the case was
    created in this transaction, so its event is number 1 without asking the database."""
    seq = 0
    if not first:
        # Events that do not move the case (urge, follow, rate, evidence, merge_in …) do not bump its version,
        # so two at once would read the same last number: they take turns on the case row. NO KEY UPDATE: the
        # reporter rows' foreign-key locks do not conflict with it. A transition holds the row already.
        await session.execute(select(Case.id).where(Case.id == case.id).with_for_update(key_share=True))
        seq = (
            await session.scalar(select(func.coalesce(func.max(CaseEvent.seq), 0)).where(CaseEvent.case_id == case.id))
        ) or 0
    event = CaseEvent(
        case_id=case.id,
        seq=seq + 1,
        action=action,
        from_state=from_state,
        to_state=case.state,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_role=role.value,
        department_id=actor.department_id,
        note=note,
        attachments=list(attachments),
        data=data or {},
        stage=case.stage,
        stage_deadline=case.deadline,
        on_time=on_time,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    await publish(
        session,
        "case.event",
        {"case_id": str(case.id), "event_id": str(event.id), "action": action, "to_state": case.state},
        dedup_key=f"case.event:{event.id}",
    )
    return event


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise Conflict(
            "the case was changed by someone else at the same time; reload and try again", code="case_changed"
        ) from None


# --- intake ----------------------------------------------------------------------------------------


def _as_loaded(cls: Any, values: dict[str, Any]) -> Any:
    """An instance of the mapped ``cls`` holding ``values`` (every column) as if loaded from the
    database — built the way SQLAlchemy's loader builds rows, ~8x cheaper than the constructor.
    Attributes set afterwards are tracked until ``make_transient_to_detached`` commits them."""
    instance = sa_inspect(cls).class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


def _column_values(row: Any) -> dict[str, Any]:
    loaded = row.__dict__
    return {c.key: loaded[c.key] for c in row.__table__.columns}


@lru_cache(maxsize=16)
def _insert_sql(table: Any, offset: int, exprs: tuple[tuple[str, str], ...] = ()) -> tuple[str, tuple[str, ...]]:
    """``INSERT INTO t (cols) VALUES ($offset+1, …)`` for every column; JSON columns are cast from text.
    ``exprs`` wraps some columns' parameters in an SQL expression (``{p}`` stands for the parameter)."""
    columns = tuple(c.key for c in table.columns)
    wrap = dict(exprs)
    params = []
    for n, column in enumerate(table.columns, start=offset + 1):
        param = f"${n}::text::jsonb" if isinstance(column.type, JSONB) else f"${n}"
        params.append(wrap[column.key].format(p=param) if column.key in wrap else param)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(params)})"
    return sql, columns


@lru_cache(maxsize=16)
def _arg_columns(table: Any) -> tuple[tuple[str, bool], ...]:
    """(column, is JSON) in insert order."""
    return tuple((c.key, isinstance(c.type, JSONB)) for c in table.columns)


_json = msgspec.json.Encoder()


def _args(table: Any, values: dict[str, Any]) -> list[Any]:
    return [_json.encode(values[key]).decode() if is_json else values[key] for key, is_json in _arg_columns(table)]


# The report event's data gets the ids of the similar cases found by the same statement.
_EVENT_DATA_WITH_SIMILAR = (
    ("data", "{p} || jsonb_build_object('similar', (SELECT coalesce(jsonb_agg(id::text ORDER BY dist, id), "
     "'[]'::jsonb) FROM near))"),
)  # fmt: skip


@lru_cache(maxsize=4)
def _intake_sql(tables: tuple[Any, ...]) -> str:
    """ONE statement for a whole new case: the similar-case search (``near``, parameters 1-7) and the
    inserts of case, reporter, event and outbox message as data-modifying CTEs (foreign keys are checked
    at its end, so a parent and its children go together). Every CTE sees the snapshot from before the
    statement, so the new case is never its own neighbour. Returns the neighbours."""
    parts = [f"near AS ({SIMILAR_SQL})"]
    offset = SIMILAR_PARAMS
    for index, table in enumerate(tables):
        sql, columns = _insert_sql(table, offset, _EVENT_DATA_WITH_SIMILAR if table is CaseEvent.__table__ else ())
        parts.append(f"t{index} AS ({sql})")
        offset += len(columns)
    return f"WITH {', '.join(parts)} SELECT id, number, state, created_at, dist FROM near ORDER BY dist, id"


async def intake(
    session: AsyncSession,
    geocoder: GridGeocoder,
    actor: Actor,
    data: IntakeData,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> IntakeResult:
    """信息收集 — geocode, look for similar open cases, number, insert, first event and outbox.

    The hottest write path of the system (DESIGN §11: ≥ 1,000 reports/s), so it is lean on purpose:
    categories come from memory (``CATEGORIES``), the similar-case search and the one INSERT of case,
    reporter, event and outbox message run straight on asyncpg, and the case number comes from Redis
    when configured. The returned ``Case`` is attached to the session as if loaded, so later steps in the
    same session see it."""
    now = now or _now()
    validate_lat_lng(data.lat, data.lng)
    category = await CATEGORIES.get(session, data.category_code)
    if actor.kind == "citizen" and not category.citizen_selectable:
        raise ValidationFailed("citizens cannot report this category", code="category_not_selectable")
    validate_answers(category.minor, data.answers)
    divert = divert_for(category.minor, data.answers)
    if len(data.description) > 2000 or len(data.address) > 200:
        raise ValidationFailed("description or address is too long", code="too_long")
    if len(data.photos) > 9:
        raise ValidationFailed("at most 9 photos", code="too_many_photos")
    grid = geocoder.locate(data.lat, data.lng)
    urgency = (data.urgency or Urgency(category.default_urgency)).value
    if divert is not None and urgency == Urgency.normal.value:
        urgency = Urgency.urgent.value
    reporter_kind = {"citizen": "citizen", "staff": "staff", "device": "device"}.get(actor.kind, "system")
    if data.source in {CaseSource.hotline_12345, CaseSource.hotline_12319}:
        reporter_kind = "phone"
    case = _as_loaded(
        Case,
        dict(
            id=new_id(),
            created_at=now,
            updated_at=now,
            source=data.source.value,
            kind=data.kind.value,
            category_code=category.code,
            urgency=urgency,
            state=CaseState.reported.value,
            suspended_from=None,
            description=data.description,
            address=data.address,
            lat=data.lat,
            lng=data.lng,
            cell=h3_int.latlng_to_cell(data.lat, data.lng, SIMILAR_RES),
            grid_code=grid.code if grid else None,
            community_code=grid.community_code if grid else None,
            street_code=grid.street_code if grid else None,
            district_code=grid.district_code if grid else None,
            answers=data.answers,
            photos=list(data.photos),
            divert_to=divert.to if divert else None,
            reporter_kind=reporter_kind,
            reporter_id=actor.id if reporter_kind in {"citizen", "staff", "device"} else None,
            reporter_phone=data.reporter_phone,
            main_department_id=None,
            assist_department_ids=[],
            dispatch_rule_id=None,
            dispatch_candidates=[],
            field_assignee_id=None,
            stage_seq=0,
            extension_request=None,
            merged_into_id=None,
            returns=0,
            reworks=0,
            extensions=0,
            reopens=0,
            accepted_at=None,
            dispatched_at=None,
            disposed_at=None,
            closed_at=None,
            rating=None,
            rating_comment=None,
            version=1,
            number=None,
            stage=None,
            stage_unit=None,
            stage_limit=None,
            stage_started_at=None,
            stage_consumed=0.0,
            segment_started_at=None,
            yellow_at=None,
            deadline=None,
            light="green",
        ),
    )
    _start_stage(case, category, CaseState.reported, now, calendar)
    case.number = await next_number(session, now)
    role = Role.system if actor.kind == "system" else next(iter(sorted(actor.roles)), Role.system)
    event_id = new_id()
    event = {
        "id": event_id, "case_id": case.id, "seq": 1, "action": "report", "from_state": None,
        "to_state": case.state, "actor_kind": actor.kind, "actor_id": actor.id, "actor_role": role.value,
        "department_id": actor.department_id, "note": data.description[:200], "attachments": list(data.photos),
        "data": {"source": data.source.value},  # + "similar", filled in by the statement
        "stage": case.stage, "stage_deadline": case.deadline, "on_time": None, "created_at": now,
    }  # fmt: skip
    reporter = {
        "id": new_id(), "case_id": case.id, "reporter_kind": case.reporter_kind, "reporter_id": case.reporter_id,
        "reporter_phone": case.reporter_phone, "original_case_id": case.id, "created_at": now,
    }  # fmt: skip
    message = {
        "id": new_id(), "topic": "case.event",
        "payload": {"case_id": str(case.id), "event_id": str(event_id), "action": "report", "to_state": case.state},
        "dedup_key": f"case.event:{event_id}", "created_at": now, "available_at": now, "relayed_at": None,
        "processed_at": None, "attempts": 0, "last_error": None, "dead": False,
    }  # fmt: skip
    rows = [
        (Case.__table__, _column_values(case)),
        (CaseReporter.__table__, reporter),
        (CaseEvent.__table__, event),
        (OutboxMessage.__table__, message),
    ]
    args = _similar_args(category, data.lat, data.lng, now, SIMILAR_LIMIT)
    for table, values in rows:
        args.extend(_args(table, values))
    sql = _intake_sql(tuple(table for table, _ in rows))
    similar = _similar_rows(await (await _driver(session)).fetch(sql, *args))
    session.info[OUTBOX_FLAG] = True
    # Attach as loaded (no second INSERT, no query): later steps in this session find it in the identity map.
    make_transient_to_detached(case)
    session.add(case)
    divert_out = {"to": divert.to, "message": divert.message} if divert else None
    return IntakeResult(case=case, similar=similar, divert=divert_out)


# --- transitions -----------------------------------------------------------------------------------


UNJUDGED_ACTIONS = frozenset({CaseAction.suspend, CaseAction.resume, CaseAction.merge, CaseAction.reopen})
"""Steps whose event carries no ``on_time``: 挂账 and its end stop and restart the clock without ending a
stage, a merged duplicate's work goes on in the surviving case, and a closed case has no clock to judge."""


@dataclass
class _Move:
    """One step of a case under way. ``_begin`` has checked it — the case is in the actor's scope, the
    actor's role may take the action, the state machine says where the case goes; the step's function
    applies what is special to its action, then ``record``s the move."""

    session: AsyncSession
    actor: Actor
    role: Role
    action: CaseAction
    case: Case
    category: Category
    from_state: CaseState
    to_state: CaseState
    on_time: bool | None  # the stage's limit held when the case left its state (KPIs); None: not judged
    now: datetime
    calendar: WorkingCalendar

    async def record(
        self, *, note: str = "", attachments: Sequence[str] = (), data: dict[str, Any] | None = None
    ) -> CaseEvent:
        """Move the case and its stage clock, flush (``Conflict`` if someone else moved the case meanwhile),
        append the event and its outbox message, and send a new field task (核实/核查) to be assigned."""
        self.case.state = self.to_state.value
        self._move_clock()
        await _flush(self.session)
        event = await _append_event(
            self.session, self.case, self.actor, self.role, self.action.value, self.from_state.value,
            note=note, attachments=attachments, data=data, on_time=self.on_time, now=self.now,
        )  # fmt: skip
        if self.to_state in FIELD_TASK_STATES and self.to_state != self.from_state:
            # 核实/核查 needs a collector on the spot: chosen after commit (live positions are in Redis).
            await publish(
                self.session,
                FIELD_TASK_TOPIC,
                {"case_id": str(self.case.id), "state": self.case.state, "stage_seq": self.case.stage_seq},
                dedup_key=f"{FIELD_TASK_TOPIC}:{event.id}",
            )
        return event

    def _move_clock(self) -> None:
        # A stage's clock runs across the states of that stage (dispatched → disposing keeps the dispose
        # clock); 挂账 stops it and resuming runs it on; a new stage — or the same stage entered again, as
        # in rework — starts a new clock.
        case, now, calendar = self.case, self.now, self.calendar
        if self.to_state is CaseState.suspended:
            clock = _clock_of(case)
            if clock is not None:
                _store_clock(case, clocks.pause(clock, now, calendar), now)
                case.light = "green"
        elif self.from_state is CaseState.suspended:
            clock = _clock_of(case)
            if clock is not None:
                _store_clock(case, clocks.resume(clock, now, calendar), now)
        elif stage_for(self.to_state) != stage_for(self.from_state) or self.action is CaseAction.check_fail:
            _start_stage(case, self.category, self.to_state, now, calendar)


async def _begin(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    action: CaseAction,
    *,
    now: datetime | None,
    calendar: WorkingCalendar,
    expected_version: int | None = None,
) -> _Move:
    """The checks every step starts with, in this order: the case in the actor's scope (``NotFound``), the
    version the caller saw (``Conflict``), the actor's role (``Forbidden``), the state machine
    (``InvalidTransition``)."""
    now = now or _now()
    case = await get_case(session, actor, case_id)
    if expected_version is not None and case.version != expected_version:
        raise Conflict("the case was changed since you loaded it", code="case_changed")
    role = actor.role_for(action)
    from_state = CaseState(case.state)
    to_state = transition(
        from_state,
        action,
        role,
        suspended_from=CaseState(case.suspended_from) if case.suspended_from else None,
    )
    category = await get_category(session, case.category_code)
    clock = _clock_of(case)
    judged = to_state != from_state and action not in UNJUDGED_ACTIONS
    return _Move(
        session=session,
        actor=actor,
        role=role,
        action=action,
        case=case,
        category=category,
        from_state=from_state,
        to_state=to_state,
        on_time=clock.on_time(now, calendar) if judged and clock is not None else None,
        now=now,
        calendar=calendar,
    )


async def step(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    action: CaseAction,
    *,
    note: str = "",
    attachments: Sequence[str] = (),
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
    expected_version: int | None = None,
) -> Case:
    """A plain step with no extra inputs: verify_request, verify_done, take, finish, close, close_on_spot."""
    simple = {
        CaseAction.verify_request,
        CaseAction.verify_done,
        CaseAction.take,
        CaseAction.finish,
        CaseAction.close,
        CaseAction.close_on_spot,
    }
    if action not in simple:
        raise ValidationFailed(f"{action.value} needs its own call", code="invalid_action")
    move = await _begin(session, actor, case_id, action, now=now, calendar=calendar, expected_version=expected_version)
    if action == CaseAction.finish:
        move.case.disposed_at = move.now
    if move.to_state == CaseState.closed:
        move.case.closed_at = move.now
    await move.record(note=note, attachments=attachments)
    return move.case


async def accept(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    note: str = "",
    auto_dispatch: bool = True,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """立案 — then 智能分派: a unique confident owner gets it at once; otherwise the dispatcher's queue."""
    move = await _begin(session, actor, case_id, CaseAction.accept, now=now, calendar=calendar)
    move.case.accepted_at = move.now
    await move.record(note=note)
    if auto_dispatch:
        await auto_dispatch_case(session, move.case, now=move.now, calendar=calendar)
    return move.case


async def reject(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """作废 — with a reason the citizen will read."""
    if not reason.strip():
        raise ValidationFailed("a reason is required to reject a case", code="reason_required")
    move = await _begin(session, actor, case_id, CaseAction.reject, now=now, calendar=calendar)
    move.case.closed_at = move.now
    await move.record(note=reason, data={"reason": reason})
    return move.case


def _location(case: Case) -> CaseLocation:
    return CaseLocation(
        grid_code=case.grid_code,
        community_code=case.community_code,
        street_code=case.street_code,
        district_code=case.district_code,
    )


async def dispatch_rules(session: AsyncSession) -> list[DispatchRule]:
    rows = (await session.scalars(select(DispatchRuleRow).where(DispatchRuleRow.enabled))).all()
    return [_rule_of(r) for r in rows]


async def auto_dispatch_case(
    session: AsyncSession, case: Case, *, now: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> bool:
    """Dispatch by the rules if one owner is clear; otherwise store the ranked candidates for the queue."""
    decision = resolve(await dispatch_rules(session), case.category_code, _location(case))
    case.dispatch_candidates = [
        {"department_id": c.department_id, "rule_id": c.rule_id, "score": round(c.score, 4),
         "confidence": round(c.confidence, 4)}
        for c in decision.candidates
    ]  # fmt: skip
    if not decision.auto or decision.department_id is None:
        await _flush(session)
        return False
    await dispatch(
        session, Actor.system(), case.id, uuid.UUID(decision.department_id),
        rule_id=uuid.UUID(decision.rule_id) if decision.rule_id else None, now=now, calendar=calendar,
        note=f"智能分派: {decision.reason}",
    )  # fmt: skip
    return True


async def dispatch(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    department_id: uuid.UUID,
    *,
    assist_department_ids: Sequence[uuid.UUID] = (),
    rule_id: uuid.UUID | None = None,
    note: str = "",
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
    expected_version: int | None = None,
) -> Case:
    """派遣 — to a main department, with assisting departments for a 协调件; an override of the
    top-ranked candidate is recorded."""
    move = await _begin(
        session, actor, case_id, CaseAction.dispatch, now=now, calendar=calendar, expected_version=expected_version
    )
    case = move.case
    department = await session.get(Department, department_id)
    if department is None or not department.active:
        raise ValidationFailed("unknown department", code="unknown_department")
    assists = [d for d in assist_department_ids if d != department_id]
    for assist in assists:
        if await session.get(Department, assist) is None:
            raise ValidationFailed("unknown assisting department", code="unknown_department")
    suggested = case.dispatch_candidates[0]["department_id"] if case.dispatch_candidates else None
    override = actor.kind != "system" and suggested is not None and suggested != str(department_id)
    if rule_id is None and case.dispatch_candidates:
        rule_id = next(
            (uuid.UUID(c["rule_id"]) for c in case.dispatch_candidates if c["department_id"] == str(department_id)),
            None,
        )
    case.main_department_id = department_id
    case.assist_department_ids = assists
    case.dispatch_rule_id = rule_id
    case.dispatched_at = move.now
    if assists:
        case.kind = CaseKind.coordination.value
    await move.record(
        note=note,
        data={"department_id": str(department_id), "assist_department_ids": [str(a) for a in assists],
              "override": override, "suggested_department_id": suggested, "rule_id": str(rule_id) if rule_id else None},
    )  # fmt: skip
    return case


async def return_case(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """回退 — the department says it is not theirs; the rule that sent it loses confidence."""
    if not reason.strip():
        raise ValidationFailed("a reason is required to return a case", code="reason_required")
    move = await _begin(session, actor, case_id, CaseAction.return_, now=now, calendar=calendar)
    case = move.case
    returned_by = case.main_department_id
    if case.dispatch_rule_id is not None:
        row = await session.get(DispatchRuleRow, case.dispatch_rule_id, with_for_update=True)
        if row is not None:
            lowered = after_return(_rule_of(row))
            row.confidence = lowered.confidence
            row.returns += 1
    case.returns += 1
    case.main_department_id = None
    case.assist_department_ids = []
    case.dispatch_rule_id = None
    # The returning department drops out of the candidates the dispatcher sees next.
    case.dispatch_candidates = [c for c in case.dispatch_candidates if c["department_id"] != str(returned_by)]
    await move.record(note=reason, data={"reason": reason, "department_id": str(returned_by)})
    return case


def _rule_of(row: DispatchRuleRow) -> DispatchRule:
    return DispatchRule(
        id=str(row.id),
        category_pattern=row.category_pattern,
        area_scope=AreaScope(row.area_scope),
        area_code=row.area_code,
        department_id=str(row.department_id),
        priority=row.priority,
        confidence=row.confidence,
        enabled=row.enabled,
    )


async def request_extension(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    amount: float,
    unit: str,
    reason: str,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """延期申请 — one pending request at a time; the deadline moves only when approved."""
    move = await _begin(session, actor, case_id, CaseAction.request_extension, now=now, calendar=calendar)
    case = move.case
    if case.extension_request is not None:
        raise Conflict("an extension request is already pending", code="extension_pending")
    clock = _clock_of(case)
    if clock is None:
        raise Conflict("no time limit is running", code="no_clock")
    clocks.extend(clock, amount, unit, calendar)  # validates amount and unit kind now, not at approval
    if not reason.strip():
        raise ValidationFailed("a reason is required", code="reason_required")
    case.extension_request = {
        "amount": amount,
        "unit": unit,
        "reason": reason,
        "by": actor.id,
        "at": move.now.isoformat(),
    }
    await move.record(note=reason, data={"amount": amount, "unit": unit})
    return case


async def decide_extension(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    approve: bool,
    *,
    note: str = "",
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    action = CaseAction.approve_extension if approve else CaseAction.deny_extension
    move = await _begin(session, actor, case_id, action, now=now, calendar=calendar)
    case = move.case
    request = case.extension_request
    if request is None:
        raise Conflict("no extension request is pending", code="no_extension_pending")
    data: dict[str, Any] = {"amount": request["amount"], "unit": request["unit"]}
    if approve:
        clock = _clock_of(case)
        if clock is not None:
            extended = clocks.extend(clock, float(request["amount"]), request["unit"], calendar)
            _store_clock(case, extended, move.now)
            data["deadline"] = extended.deadline.isoformat() if extended.deadline else None
        case.extensions += 1
    case.extension_request = None
    await move.record(note=note, data=data)
    return case


async def suspend(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """挂账 — the clock stops until resumed."""
    move = await _begin(session, actor, case_id, CaseAction.suspend, now=now, calendar=calendar)
    move.case.suspended_from = move.from_state.value  # where resume goes back to
    await move.record(note=reason)
    return move.case


async def resume(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    note: str = "",
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    move = await _begin(session, actor, case_id, CaseAction.resume, now=now, calendar=calendar)
    move.case.suspended_from = None
    await move.record(note=note)
    return move.case


URGE_ROLES = (Role.shift_lead, Role.dispatcher, Role.seat)
"""Who may urge (催办) by hand — the command centre, the most senior role first (the one the event
records for someone who holds several). The sweep urges automatically at yellow."""
URGE_STATES = frozenset({CaseState.dispatched, CaseState.disposing})
"""A case can be urged while a department holds it."""


async def urge(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, note: str = "", *, now: datetime | None = None
) -> CaseEvent:
    """催办 — a note to the handling department that the case is waited on. The state and the clock stay
    as they are; the event (``urge``, like the sweep's at yellow) goes to the timeline and the outbox."""
    if len(note) > 500:
        raise ValidationFailed("the note is too long (at most 500 characters)", code="too_long")
    now = now or _now()
    case = await get_case(session, actor, case_id)
    role = next((r for r in URGE_ROLES if r in actor.roles), None)
    if role is None:
        raise Forbidden("your role may not urge a case", code="forbidden", details={"action": "urge", "label": "催办"})
    state = CaseState(case.state)
    if state not in URGE_STATES:
        raise InvalidTransition(
            f"a case in state {state.value!r} cannot be urged",
            details={"state": state.value, "action": "urge", "label": f"{state.label}状态的案卷不能催办"},
        )
    return await _append_event(
        session, case, actor, role, "urge", case.state, note=note, data={"manual": True}, now=now
    )


async def check(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    passed: bool,
    *,
    note: str = "",
    attachments: Sequence[str] = (),
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """核查 — pass closes the case (结案); fail sends it back to the department (返工)."""
    action = CaseAction.check_pass if passed else CaseAction.check_fail
    move = await _begin(session, actor, case_id, action, now=now, calendar=calendar)
    case = move.case
    if passed:
        case.closed_at = move.now
        if case.dispatch_rule_id is not None:
            row = await session.get(DispatchRuleRow, case.dispatch_rule_id, with_for_update=True)
            if row is not None:
                row.confidence = after_success(_rule_of(row)).confidence
                row.successes += 1
    else:
        case.reworks += 1
    await move.record(note=note, attachments=attachments)
    return case


async def reopen(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """Reopen a closed case (not fixed, dissatisfied callback, alarm back) and send it straight back
    to the department that closed it."""
    move = await _begin(session, actor, case_id, CaseAction.reopen, now=now, calendar=calendar)
    case = move.case
    case.reopens += 1
    case.closed_at = None
    previous = case.main_department_id
    await move.record(note=reason, data={"reason": reason})
    if previous is not None:
        await dispatch(session, Actor.system(), case.id, previous, rule_id=case.dispatch_rule_id, now=move.now,
                       calendar=calendar, note="重新打开后派回原处置部门")  # fmt: skip
    return case


async def merge(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    into_case_id: uuid.UUID,
    *,
    now: datetime | None = None,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Case:
    """合并 — the duplicate ends as ``merged``; its reporters follow the surviving case."""
    if case_id == into_case_id:
        raise ValidationFailed("a case cannot be merged into itself", code="invalid_merge")
    target = await get_case(session, actor, into_case_id)
    if target.state in {s.value for s in FINAL_STATES} - {CaseState.closed.value} or target.merged_into_id:
        raise Conflict("the surviving case is not open", code="invalid_merge")
    move = await _begin(session, actor, case_id, CaseAction.merge, now=now, calendar=calendar)
    case = move.case
    case.merged_into_id = target.id
    case.closed_at = move.now
    reporters = (await session.scalars(select(CaseReporter).where(CaseReporter.case_id == case.id))).all()
    if reporters:
        # Someone who reported (or followed) both cases already follows the surviving one: skipped.
        await session.execute(
            insert(CaseReporter)
            .values(
                [
                    {
                        "id": new_id(),
                        "case_id": target.id,
                        "reporter_kind": r.reporter_kind,
                        "reporter_id": r.reporter_id,
                        "reporter_phone": r.reporter_phone,
                        "original_case_id": r.original_case_id,
                    }
                    for r in reporters
                ]
            )
            .on_conflict_do_nothing(index_elements=REPORTER_KEY)
        )
    await move.record(data={"into_case_id": str(target.id), "into_number": target.number})
    await _append_event(
        session, target, actor, move.role, "merge_in", target.state,
        data={"merged_case_id": str(case.id), "merged_number": case.number}, now=move.now,
    )  # fmt: skip
    return case


async def reporters_of(session: AsyncSession, case_id: uuid.UUID) -> list[CaseReporter]:
    return list((await session.scalars(select(CaseReporter).where(CaseReporter.case_id == case_id))).all())


async def assign_field_task(
    session: AsyncSession,
    case_id: uuid.UUID,
    collector_id: uuid.UUID,
    *,
    reason: str,
    expected_stage_seq: int | None = None,
    now: datetime | None = None,
) -> Case:
    """派发外勤任务 — give a case's field task (核实 while ``verifying``, 核查 while ``disposed``) to one
    collector: ``field_assignee_id`` puts the case in their scope and their task inbox. Recorded as a
    ``field_assign`` event by the system (``reason`` says how the collector was chosen).

    ``expected_stage_seq`` guards a late job: if the case has left that stage since, nothing is assigned
    (``Conflict``)."""
    now = now or _now()
    case = await get_case(session, Actor.system(), case_id)
    state = CaseState(case.state)
    if state not in FIELD_TASK_STATES:
        raise InvalidTransition(
            f"a case in state {state.value!r} has no field task",
            details={"state": state.value, "label": f"{state.label}状态的案卷没有外勤任务"},
        )
    if expected_stage_seq is not None and case.stage_seq != expected_stage_seq:
        raise Conflict("the case has moved on since the task was due", code="case_changed")
    collector = await session.get(Staff, collector_id)
    if collector is None or not collector.active or Role.collector.value not in collector.roles:
        raise ValidationFailed("field tasks go to active collectors", code="not_a_collector")
    case.field_assignee_id = collector_id
    await _flush(session)
    task = "verify" if state is CaseState.verifying else "check"
    await _append_event(
        session, case, Actor.system(), Role.system, "field_assign", case.state,
        data={"collector_id": str(collector_id), "task": task, "reason": reason}, now=now,
    )  # fmt: skip
    return case


# --- citizens: "me too" and rating -------------------------------------------------------------------


async def follow(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, *, now: datetime | None = None
) -> tuple[Case, bool]:
    """我也遇到 ("me too") — a citizen joins an open case as one more reporter (上报人) instead of filing a duplicate,
    and from then on sees it among their reports. Returns (case, whether they were added now); following
    a case one already reported or follows changes nothing. Two taps at once add one row: the insert
    itself is the check (the second waits on the unique index and then inserts nothing)."""
    if actor.kind != "citizen" or actor.id is None:
        raise Forbidden("only citizens follow cases", code="forbidden")
    now = now or _now()
    case = await session.get(Case, case_id)
    if case is None or case.state in {CaseState.rejected.value, CaseState.merged.value}:
        raise NotFound("no such case", code="case_not_found")
    if case.state == CaseState.closed.value:
        raise Conflict("the case is already closed; report the problem anew", code="case_closed")
    added = await session.scalar(
        insert(CaseReporter)
        .values(
            id=new_id(), case_id=case.id, reporter_kind="citizen", reporter_id=actor.id, reporter_phone=None,
            original_case_id=case.id,
        )
        .on_conflict_do_nothing(index_elements=REPORTER_KEY)
        .returning(CaseReporter.id)
    )  # fmt: skip
    if added is None:
        return case, False
    await _append_event(session, case, actor, Role.citizen, "follow", case.state, now=now)
    return case, True


async def rate(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    score: int,
    comment: str = "",
    *,
    now: datetime | None = None,
) -> Case:
    """满意度评价 — the citizen who reported a case rates its result, 1–5, once, after it is closed."""
    if not 1 <= score <= 5:
        raise ValidationFailed("the rating must be 1 to 5", code="invalid_rating")
    if len(comment) > 500:
        raise ValidationFailed("the comment is too long (at most 500 characters)", code="too_long")
    now = now or _now()
    case = await get_case(session, actor, case_id, for_update=True)
    if actor.kind != "citizen" or case.reporter_kind != "citizen" or case.reporter_id != actor.id:
        raise Forbidden("only the citizen who reported the case rates it", code="not_reporter")
    if case.state != CaseState.closed.value:
        raise Conflict("a case can be rated once it is closed", code="case_not_closed")
    if case.rating is not None:
        raise Conflict("this case has already been rated", code="already_rated")
    case.rating = score
    case.rating_comment = comment
    await _flush(session)
    await _append_event(
        session, case, actor, Role.citizen, "rate", case.state, note=comment, data={"score": score}, now=now
    )
    return case


async def record_evidence(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """An event that changes no state but belongs on the timeline — e.g. a device alarm clearing,
    evidence for 核查 (check). Recorded by the system."""
    case = await get_case(session, Actor.system(), case_id)
    return await _append_event(
        session, case, Actor.system(), Role.system, action, case.state, note=note, data=data, now=now or _now()
    )
