"""Shifts (排班) and attendance (考勤): schedules, check-in/out inside the geofence, the daily report."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date

from litestar import Controller, get, put
from litestar.params import Parameter

from app.auth import require_roles
from backend.field import attendance
from backend.field.enums import OpKind
from backend.field.ops import FieldContext, PunchResult
from backend.field.rules import local_day
from backend.models import Shift
from field_app_api.context import FIELD_DEPENDENCIES, apply_write, error_responses, write_endpoint
from field_app_api.fieldwork_schemas import (
    AttendanceReportOut,
    AttendanceRowOut,
    AttendanceSummaryOut,
    PunchIn,
    ShiftListOut,
    ShiftOut,
    ShiftsIn,
)

FIELD_ROLES = ("collector", "handler", "officer")


def _shift_out(shift: Shift) -> ShiftOut:
    return ShiftOut(
        id=str(shift.id),
        staff_id=str(shift.staff_id),
        day=shift.day,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        grid_codes=list(shift.grid_codes),
        note=shift.note,
    )


def _row_out(row: attendance.ReportRow) -> AttendanceRowOut:
    record, verdict = row.record, row.assessment
    return AttendanceRowOut(
        staff_id=str(row.staff.id),
        username=row.staff.username,
        name=row.staff.name,
        shift_id=str(row.shift.id),
        day=row.shift.day,
        starts_at=row.shift.starts_at,
        ends_at=row.shift.ends_at,
        grid_codes=list(row.shift.grid_codes),
        check_in_at=record.check_in_at if record else None,
        check_out_at=record.check_out_at if record else None,
        check_in_outside_m=record.check_in_outside_m if record else None,
        check_out_outside_m=record.check_out_outside_m if record else None,
        offline=row.offline,
        status=verdict.status.value,
        flags=[f.value for f in verdict.flags],
        late_s=verdict.late_s,
        early_leave_s=verdict.early_leave_s,
        normal=verdict.normal,
        distance_m=row.distance_m,
    )


class ShiftController(Controller):
    path = "/shifts"
    tags = ["attendance"]
    dependencies = FIELD_DEPENDENCIES

    @get(
        "",
        summary="Shifts over a range of days: mine, or anyone's for a shift lead",
        responses=error_responses(400, 404),
    )
    async def list_shifts(
        self,
        field: FieldContext,
        day_from: date = Parameter(query="from"),
        day_to: date | None = Parameter(query="to", default=None),
        staff_id: uuid.UUID | None = None,
    ) -> ShiftListOut:
        rows = await attendance.list_shifts(
            field.session, field.staff, day_from=day_from, day_to=day_to or day_from, staff_id=staff_id
        )
        return ShiftListOut([_shift_out(s) for s in rows])

    @put(
        "",
        summary="排班 — create or replace shifts (one per staff member and day)",
        guards=[require_roles("shift_lead", "admin")],
        responses=error_responses(400),
    )
    async def put_shifts(self, field: FieldContext, data: ShiftsIn) -> ShiftListOut:
        rows = await attendance.set_shifts(
            field.session,
            field.staff,
            [
                attendance.ShiftInput(s.staff_id, s.day, s.starts_at, s.ends_at, s.grid_codes, s.note)
                for s in data.shifts
            ],
        )
        return ShiftListOut([_shift_out(s) for s in rows])


class AttendanceController(Controller):
    path = "/attendance"
    tags = ["attendance"]
    dependencies = FIELD_DEPENDENCIES

    @write_endpoint(
        "/check-in",
        summary="签到 — inside (or within the tolerance of) my shift's grids",
        roles=FIELD_ROLES,
        errors=(400, 409),
    )
    async def check_in(self, field: FieldContext, data: PunchIn) -> PunchResult:
        return await apply_write(field, OpKind.check_in, data, PunchResult)

    @write_endpoint(
        "/check-out",
        summary="签退 — inside (or within the tolerance of) my shift's grids",
        roles=FIELD_ROLES,
        errors=(400, 409),
    )
    async def check_out(self, field: FieldContext, data: PunchIn) -> PunchResult:
        return await apply_write(field, OpKind.check_out, data, PunchResult)

    @get(
        "/report",
        summary="考勤日报 — every shift of a day with check-in/out, late/early/absent and mileage "
        "(mine, or everyone's / a department's for a shift lead)",
        responses=error_responses(400, 404),
    )
    async def report(
        self,
        field: FieldContext,
        day: date | None = None,
        department_id: uuid.UUID | None = None,
        staff_id: uuid.UUID | None = None,
    ) -> AttendanceReportOut:
        the_day = day or local_day(field.now)
        rows = await attendance.daily_report(
            field.session, field.staff, the_day, now=field.now, department_id=department_id, staff_id=staff_id
        )
        summary = attendance.summarize(rows)
        return AttendanceReportOut(
            day=the_day,
            items=[_row_out(row) for row in rows],
            summary=AttendanceSummaryOut(**dataclasses.asdict(summary)),
        )
