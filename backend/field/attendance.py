"""Shifts and attendance (排班与考勤): schedules per staff member and day, check-in and check-out inside
the geofence of the shift's grids, and the daily attendance report (rules in ``backend.field.rules``).

A shift belongs to the Asia/Shanghai day it starts on (a night shift 22:00–06:00 is the evening's).
A check-in or check-out made offline counts at the client's time (within the offline window); the
time the server received it is kept beside it, so the report can show it was late in arriving.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from shapely.geometry import MultiPolygon, Polygon, shape
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.enums import Role
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.field import live
from backend.field.enums import AttendanceFlag, AttendanceStatus
from backend.field.rules import (
    Assessment,
    AttendancePolicy,
    Geofence,
    assess,
    check_day,
    check_geofence,
    check_in_refusal,
    check_out_refusal,
    local_day,
)
from backend.field.settings import get_field_settings
from backend.models import AttendanceRecord, Grid, Shift, Staff

SUPERVISORS = frozenset({Role.shift_lead.value, Role.admin.value, Role.auditor.value})
"""Who sees everyone's shifts, attendance and tracks (the others see their own)."""
SCHEDULERS = frozenset({Role.shift_lead.value, Role.admin.value})
MAX_SHIFT = timedelta(hours=24)
MAX_SHIFTS_PER_CALL = 500
MAX_RANGE_DAYS = 62


@dataclass(frozen=True)
class ShiftInput:
    staff_id: uuid.UUID
    day: date
    starts_at: datetime
    ends_at: datetime
    grid_codes: Sequence[str] = ()
    note: str = ""


def has(array: Any, value: Any) -> ColumnElement[bool]:
    """``value = ANY(array)`` — membership in an ARRAY column."""
    return array.any(value)  # type: ignore[no-any-return]


def is_supervisor(staff: Staff) -> bool:
    return bool(SUPERVISORS & set(staff.roles))


def visible_staff_id(viewer: Staff, staff_id: uuid.UUID | None) -> uuid.UUID | None:
    """Whose records the viewer may read: anyone's for a supervisor (None = everyone), else only their
    own — asking for someone else's is answered as if they did not exist."""
    if is_supervisor(viewer):
        return staff_id
    if staff_id is not None and staff_id != viewer.id:
        raise NotFound("no such staff member", code="staff_not_found")
    return viewer.id


async def _grid_shapes(session: AsyncSession, codes: Sequence[str]) -> list[Polygon | MultiPolygon]:
    if not codes:
        return []
    rows = await session.scalars(select(Grid.boundary).where(Grid.code.in_(list(codes))))
    return [shape(b) for b in rows.all()]


async def set_shifts(session: AsyncSession, scheduler: Staff, shifts: Sequence[ShiftInput]) -> list[Shift]:
    """排班 — create or replace shifts (one per staff member and day). For shift leads and admins."""
    if not SCHEDULERS & set(scheduler.roles):
        raise Forbidden("only shift leads and administrators make schedules", code="forbidden")
    if not 1 <= len(shifts) <= MAX_SHIFTS_PER_CALL:
        raise ValidationFailed(f"between 1 and {MAX_SHIFTS_PER_CALL} shifts at a time", code="invalid_shifts")
    keys = [(s.staff_id, s.day) for s in shifts]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("one shift per staff member and day", code="duplicate_shift")
    staff_ids = {s.staff_id for s in shifts}
    known = set((await session.scalars(select(Staff.id).where(Staff.id.in_(staff_ids), Staff.active))).all())
    grid_codes = {g for s in shifts for g in s.grid_codes}
    grids = (
        set((await session.scalars(select(Grid.code).where(Grid.code.in_(grid_codes)))).all()) if grid_codes else set()
    )
    ids: list[uuid.UUID] = []
    for s in shifts:
        if s.staff_id not in known:
            raise ValidationFailed("unknown staff member", code="unknown_staff", details={"staff_id": str(s.staff_id)})
        if s.starts_at.tzinfo is None or s.ends_at.tzinfo is None:
            raise ValidationFailed("shift times need a time zone offset", code="invalid_shift")
        if local_day(s.starts_at) != check_day(s.day):
            raise ValidationFailed("a shift starts on its day (Asia/Shanghai)", code="invalid_shift")
        local_day(s.ends_at)  # in range too
        if not timedelta(0) < s.ends_at - s.starts_at <= MAX_SHIFT:
            raise ValidationFailed("a shift ends after it starts, within 24 hours", code="invalid_shift")
        unknown = sorted(set(s.grid_codes) - grids)
        if unknown:
            raise ValidationFailed("unknown grid", code="unknown_grid", details={"grid_codes": unknown})
        values = {
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "grid_codes": sorted(set(s.grid_codes)),
            "note": s.note,
            "created_by": scheduler.id,
        }
        shift_id = await session.scalar(
            insert(Shift)
            .values(id=uuid.uuid4(), staff_id=s.staff_id, day=s.day, **values)
            .on_conflict_do_update(constraint="uq_shifts_staff_day", set_=values)
            .returning(Shift.id)
        )
        assert shift_id is not None
        ids.append(shift_id)
    rows = {
        r.id: r
        for r in (
            await session.scalars(select(Shift).where(Shift.id.in_(ids)).execution_options(populate_existing=True))
        ).all()
    }
    return [rows[i] for i in ids]


async def list_shifts(
    session: AsyncSession, viewer: Staff, *, day_from: date, day_to: date, staff_id: uuid.UUID | None = None
) -> list[Shift]:
    """Shifts from ``day_from`` to ``day_to`` (inclusive): a supervisor's choice of staff, else one's own."""
    if check_day(day_to) < check_day(day_from) or (day_to - day_from).days >= MAX_RANGE_DAYS:
        raise ValidationFailed(f"a range of 1 to {MAX_RANGE_DAYS} days", code="invalid_range")
    who = visible_staff_id(viewer, staff_id)
    stmt = select(Shift).where(Shift.day >= day_from, Shift.day <= day_to)
    if who is not None:
        stmt = stmt.where(Shift.staff_id == who)
    return list((await session.scalars(stmt.order_by(Shift.day, Shift.starts_at).limit(5000))).all())


async def _shift_at(session: AsyncSession, staff_id: uuid.UUID, at: datetime, policy: AttendancePolicy) -> Shift:
    """The staff member's shift whose check-in window holds ``at`` (today's, or last night's)."""
    day = local_day(at)
    rows = (
        await session.scalars(
            select(Shift)
            .where(Shift.staff_id == staff_id, Shift.day.in_([day - timedelta(days=1), day, day + timedelta(days=1)]))
            .order_by(Shift.starts_at)
        )
    ).all()
    for shift in rows:
        if shift.starts_at - policy.check_in_opens_before <= at <= shift.ends_at + policy.check_out_closes_after:
            return shift
    raise ValidationFailed("you have no shift now", code="no_shift")


async def _record_for(session: AsyncSession, shift: Shift) -> AttendanceRecord:
    await session.execute(
        insert(AttendanceRecord)
        .values(id=uuid.uuid4(), shift_id=shift.id, staff_id=shift.staff_id, day=shift.day)
        .on_conflict_do_nothing(index_elements=["shift_id"])
    )
    record = await session.scalar(
        select(AttendanceRecord)
        .where(AttendanceRecord.shift_id == shift.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert record is not None
    return record


async def _geofence(session: AsyncSession, shift: Shift, lat: float, lng: float) -> Geofence | None:
    """None when the shift has no grids (a department handler's shift): no fence to be inside."""
    if not shift.grid_codes:
        return None
    fence = check_geofence(
        await _grid_shapes(session, shift.grid_codes), lat, lng, get_field_settings().geofence_tolerance_m
    )
    if not fence.accepted:
        raise ValidationFailed(
            "you are outside the grids of your shift",
            code="outside_geofence",
            details={"outside_m": fence.outside_m, "tolerance_m": fence.tolerance_m, "grid_codes": shift.grid_codes},
        )
    return fence


@dataclass
class Punch:
    """A check-in or check-out as recorded."""

    shift: Shift
    record: AttendanceRecord
    fence: Geofence | None
    assessment: Assessment


async def check_in(
    session: AsyncSession,
    redis: Redis,
    staff: Staff,
    *,
    lat: float,
    lng: float,
    at: datetime,
    received_at: datetime,
) -> Punch:
    """签到 — inside (or within the tolerance of) the shift's grids, within the check-in window."""
    policy = get_field_settings().policy
    shift = await _shift_at(session, staff.id, at, policy)
    refusal = check_in_refusal(shift.starts_at, shift.ends_at, at, policy)
    if refusal is not None:
        raise ValidationFailed(f"check-in is not open ({refusal})", code=f"check_in_{refusal}")
    record = await _record_for(session, shift)
    if record.check_in_at is not None:
        raise Conflict(
            "already checked in", code="already_checked_in", details={"check_in_at": record.check_in_at.isoformat()}
        )
    fence = await _geofence(session, shift, lat, lng)
    record.check_in_at = at
    record.check_in_lat, record.check_in_lng = lat, lng
    record.check_in_outside_m = fence.outside_m if fence else None
    record.check_in_received_at = received_at
    await session.flush()
    if Role.collector.value in staff.roles:
        await live.put_position(redis, staff.id, lat, lng, at)
    return Punch(shift, record, fence, assess(shift.starts_at, shift.ends_at, at, None, received_at, policy))


async def check_out(
    session: AsyncSession,
    redis: Redis,
    staff: Staff,
    *,
    lat: float,
    lng: float,
    at: datetime,
    received_at: datetime,
) -> Punch:
    """签退 — after the check-in, within the geofence, until the check-out window closes."""
    policy = get_field_settings().policy
    shift = await _shift_at(session, staff.id, at, policy)
    record = await _record_for(session, shift)
    if record.check_out_at is not None:
        raise Conflict(
            "already checked out", code="already_checked_out", details={"check_out_at": record.check_out_at.isoformat()}
        )
    refusal = check_out_refusal(record.check_in_at, shift.ends_at, at, policy)
    if refusal is not None:
        raise ValidationFailed(f"cannot check out ({refusal})", code=f"check_out_{refusal}")
    fence = await _geofence(session, shift, lat, lng)
    record.check_out_at = at
    record.check_out_lat, record.check_out_lng = lat, lng
    record.check_out_outside_m = fence.outside_m if fence else None
    record.check_out_received_at = received_at
    await session.flush()
    await live.remove(redis, staff.id)
    return Punch(
        shift, record, fence, assess(shift.starts_at, shift.ends_at, record.check_in_at, at, received_at, policy)
    )


async def on_shift_staff(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID], now: datetime, policy: AttendancePolicy
) -> set[uuid.UUID]:
    """在岗 — who of ``staff_ids`` is checked in and not out, on a shift whose check-out window is open."""
    if not staff_ids:
        return set()
    rows = await session.scalars(
        select(Shift.staff_id)
        .join(AttendanceRecord, AttendanceRecord.shift_id == Shift.id)
        .where(
            Shift.staff_id.in_(list(staff_ids)),
            Shift.day.in_([local_day(now) - timedelta(days=1), local_day(now)]),
            AttendanceRecord.check_in_at.is_not(None),
            AttendanceRecord.check_out_at.is_(None),
            Shift.ends_at + policy.check_out_closes_after >= now,
        )
    )
    return set(rows.all())


async def is_on_shift(session: AsyncSession, staff_id: uuid.UUID, now: datetime) -> bool:
    return staff_id in await on_shift_staff(session, [staff_id], now, get_field_settings().policy)


async def shift_collectors_for_grid(session: AsyncSession, grid_code: str, now: datetime) -> list[uuid.UUID]:
    """Collectors whose shift covering ``now`` includes ``grid_code`` (responsible for it today)."""
    policy = get_field_settings().policy
    rows = await session.scalars(
        select(Shift.staff_id)
        .join(Staff, Staff.id == Shift.staff_id)
        .where(
            Shift.day.in_([local_day(now) - timedelta(days=1), local_day(now)]),
            has(Shift.grid_codes, grid_code),
            Shift.starts_at - policy.check_in_opens_before <= now,
            Shift.ends_at >= now,
            Staff.active.is_(True),
            has(Staff.roles, Role.collector.value),
        )
        .order_by(Shift.starts_at)
    )
    return list(rows.all())


OFFLINE_AFTER = timedelta(minutes=5)


@dataclass
class ReportRow:
    """One line of the daily attendance report (考勤日报)."""

    staff: Staff
    shift: Shift
    record: AttendanceRecord | None
    assessment: Assessment
    distance_m: float

    @property
    def offline(self) -> bool:
        """A check-in or check-out reached the server well after it was made (sent from offline)."""
        r = self.record
        if r is None:
            return False
        pairs = ((r.check_in_at, r.check_in_received_at), (r.check_out_at, r.check_out_received_at))
        return any(made and received and received - made > OFFLINE_AFTER for made, received in pairs)


@dataclass(frozen=True)
class ReportSummary:
    shifts: int
    normal: int
    late: int
    early_leave: int
    absent: int
    no_check_out: int


def summarize(rows: Sequence[ReportRow]) -> ReportSummary:
    verdicts = [r.assessment for r in rows]
    return ReportSummary(
        shifts=len(verdicts),
        normal=sum(v.normal for v in verdicts),
        late=sum(AttendanceFlag.late in v.flags for v in verdicts),
        early_leave=sum(AttendanceFlag.early_leave in v.flags for v in verdicts),
        absent=sum(v.status is AttendanceStatus.absent for v in verdicts),
        no_check_out=sum(v.status is AttendanceStatus.no_check_out for v in verdicts),
    )


async def daily_report(
    session: AsyncSession,
    viewer: Staff,
    day: date,
    *,
    now: datetime,
    department_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
) -> list[ReportRow]:
    """考勤日报 — every shift of ``day`` with its check-in/out, verdict (late, early leave, absent …) and
    patrol mileage; a supervisor sees everyone (or one department), anyone else their own line."""
    check_day(day)
    from backend.field.tracks import daily_mileage

    policy = get_field_settings().policy
    who = visible_staff_id(viewer, staff_id)
    stmt = (
        select(Shift, Staff, AttendanceRecord)
        .join(Staff, Staff.id == Shift.staff_id)
        .outerjoin(AttendanceRecord, and_(AttendanceRecord.shift_id == Shift.id))
        .where(Shift.day == day)
    )
    if who is not None:
        stmt = stmt.where(Shift.staff_id == who)
    if department_id is not None:
        stmt = stmt.where(Staff.department_id == department_id)
    rows = (await session.execute(stmt.order_by(Staff.username))).all()
    mileage = await daily_mileage(session, [staff.id for _, staff, _ in rows], day, day)
    report = []
    for shift, staff, record in rows:
        check_in_at = record.check_in_at if record else None
        check_out_at = record.check_out_at if record else None
        verdict = assess(shift.starts_at, shift.ends_at, check_in_at, check_out_at, now, policy)
        report.append(ReportRow(staff, shift, record, verdict, mileage.get((staff.id, day), 0.0)))
    return report
