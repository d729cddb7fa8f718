"""Wire types of field work: tasks, reports, uploads, shifts and attendance, tracks, sync, inspections.

Coordinates are named and their system stated (``coord``: ``gcj02`` by default — the datum of the maps
the app shows — or ``wgs84``); every write carries ``client_id`` (8–64 of ``[A-Za-z0-9_.:-]``, made by
the app, e.g. a UUID) and ``client_ts`` (RFC 3339 with an offset): sending it again is harmless.
The write payloads and results themselves are ``backend.field.ops``' structs.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from backend.cases.enums import Urgency
from backend.field.enums import TaskKind
from backend.field.ops import (
    ClientId,
    FindingCaseOp,
    InspectionOp,
    Note,
    Photos,
    PunchOp,
    Reason,
    ReportOp,
    SyncItem,
    SyncItemResult,
    TrackOp,
)
from backend.geo import CoordSystem
from backend.worktime import Unit

# --- writes: the client's id and time, then what the write carries --------------------------------


class ClientWrite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    client_id: ClientId
    client_ts: datetime


class TakeIn(ClientWrite, kw_only=True):
    note: Note = ""


class FinishIn(ClientWrite, kw_only=True):
    note: Note = ""
    photos: Annotated[Photos, msgspec.Meta(min_length=1)]
    """Keys of photos uploaded through ``POST /uploads`` (at least one)."""


class VerifyIn(ClientWrite, kw_only=True):
    confirmed: bool
    """属实 (true) or not (false)."""
    note: Note = ""
    photos: Photos = []


class CheckTaskIn(ClientWrite, kw_only=True):
    passed: bool
    """True closes the case (结案); false sends it back to the department (返工)."""
    note: Note = ""
    photos: Photos = []


class ReturnIn(ClientWrite, kw_only=True):
    reason: Reason


class ExtensionIn(ClientWrite, kw_only=True):
    amount: Annotated[float, msgspec.Meta(gt=0, le=60)]
    unit: Unit
    reason: Reason


class ReportIn(ReportOp, kw_only=True):
    """A collector's report; ``close_on_spot`` reports and closes it at once (即办件)."""

    client_id: ClientId
    client_ts: datetime


class PunchIn(PunchOp, kw_only=True):
    """签到/签退 where the phone is."""

    client_id: ClientId
    client_ts: datetime


class TrackIn(TrackOp, kw_only=True):
    """A batch of GPS fixes."""

    client_id: ClientId
    client_ts: datetime


class InspectionIn(InspectionOp, kw_only=True):
    """执法检查."""

    client_id: ClientId
    client_ts: datetime


class FindingCaseIn(ClientWrite, kw_only=True):
    urgency: Urgency | None = None
    answers: dict[str, Any] = {}
    """Answers to the category's questions the finding left open."""


# --- tasks -----------------------------------------------------------------------------------------


class ActionOut(msgspec.Struct):
    action: str
    label: str


class TaskOut(msgspec.Struct, kw_only=True):
    """任务 — one case as a field task, with what the map needs."""

    case_id: str
    number: str
    task: TaskKind | None
    """verify (核实) / check (核查) / dispose (处置); null for a case in scope that is no task now."""
    task_label: str | None
    state: str
    state_label: str
    category_code: str
    category_name: str
    description: str
    address: str
    lat: float
    lng: float
    coord: CoordSystem
    urgency: str
    light: str
    deadline: datetime | None
    created_at: datetime
    assigned_to_me: bool
    actions: list[ActionOut]
    """What the caller may do now (``rules.allowed_actions`` for their roles)."""


class TaskPageOut(msgspec.Struct):
    items: list[TaskOut]
    next_cursor: str | None


class PhotoOut(msgspec.Struct):
    key: str
    url: str


class EventOut(msgspec.Struct, kw_only=True):
    seq: int
    action: str
    label: str
    from_state: str | None
    to_state: str
    actor_role: str
    note: str
    attachments: list[PhotoOut]
    at: datetime


class TaskDetailOut(TaskOut, kw_only=True):
    version: int
    grid_code: str | None
    main_department_id: str | None
    extension_pending: bool
    photos: list[PhotoOut]
    timeline: list[EventOut]


# --- uploads ---------------------------------------------------------------------------------------


class UploadIn(msgspec.Struct, forbid_unknown_fields=True):
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class UploadOut(msgspec.Struct, kw_only=True):
    """PUT the photo to ``url`` with ``headers`` before ``expires_at``, then reference ``key``."""

    key: str
    method: str
    url: str
    headers: dict[str, str]
    max_bytes: int
    content_type: str
    expires_at: datetime


# --- shifts and attendance ---------------------------------------------------------------------------


class ShiftIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    staff_id: uuid.UUID
    day: date
    """The Asia/Shanghai day the shift starts on."""
    starts_at: datetime
    ends_at: datetime
    grid_codes: Annotated[list[Annotated[str, msgspec.Meta(pattern=r"^[0-9]{15}$")]], msgspec.Meta(max_length=50)] = []
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ShiftsIn(msgspec.Struct, forbid_unknown_fields=True):
    shifts: Annotated[list[ShiftIn], msgspec.Meta(min_length=1, max_length=500)]


class ShiftOut(msgspec.Struct, kw_only=True):
    id: str
    staff_id: str
    day: date
    starts_at: datetime
    ends_at: datetime
    grid_codes: list[str]
    note: str


class ShiftListOut(msgspec.Struct):
    items: list[ShiftOut]


class AttendanceRowOut(msgspec.Struct, kw_only=True):
    staff_id: str
    username: str
    name: str
    shift_id: str
    day: date
    starts_at: datetime
    ends_at: datetime
    grid_codes: list[str]
    check_in_at: datetime | None
    check_out_at: datetime | None
    check_in_outside_m: float | None
    check_out_outside_m: float | None
    offline: bool
    """A check-in or check-out reached the server more than 5 minutes after it was made."""
    status: str
    flags: list[str]
    late_s: int
    early_leave_s: int
    normal: bool
    distance_m: float
    """Patrol mileage of the day."""


class AttendanceSummaryOut(msgspec.Struct, kw_only=True):
    shifts: int
    normal: int
    late: int
    early_leave: int
    absent: int
    no_check_out: int


class AttendanceReportOut(msgspec.Struct, kw_only=True):
    day: date
    items: list[AttendanceRowOut]
    summary: AttendanceSummaryOut


# --- tracks ----------------------------------------------------------------------------------------


class TrackPointOut(msgspec.Struct, kw_only=True):
    ts: datetime
    lat: float
    lng: float
    accuracy: float
    speed: float | None


class PlaybackOut(msgspec.Struct, kw_only=True):
    """轨迹回放 — a staff member's track of one day."""

    staff_id: str
    day: date
    coord: CoordSystem
    point_count: int
    distance_m: float
    duration_s: int
    points: list[TrackPointOut]


class MileageRowOut(msgspec.Struct, kw_only=True):
    staff_id: str
    day: date
    distance_m: float


class MileageOut(msgspec.Struct):
    items: list[MileageRowOut]


# --- sync ------------------------------------------------------------------------------------------


class SyncIn(msgspec.Struct, forbid_unknown_fields=True):
    """An offline batch, applied in order. Kinds and their payloads: ``case.take`` {case_id, note},
    ``case.finish`` {case_id, note, photos}, ``case.verify`` {case_id, confirmed, note, photos},
    ``case.check`` {case_id, passed, note, photos}, ``case.return`` {case_id, reason},
    ``case.extension`` {case_id, amount, unit, reason}, ``case.report`` (as ``POST /reports``),
    ``attendance.check_in`` / ``attendance.check_out`` {lat, lng, coord, accuracy},
    ``track.upload`` {coord, points}, ``inspection.create`` (as ``POST /inspections``),
    ``inspection.finding_case`` {inspection_id, seq, urgency}."""

    items: Annotated[list[SyncItem], msgspec.Meta(min_length=1, max_length=200)]


class SyncOut(msgspec.Struct, kw_only=True):
    results: list[SyncItemResult]
    applied: int
    duplicate: int
    conflict: int
    rejected: int


# --- inspections -----------------------------------------------------------------------------------


class ChecklistItemOut(msgspec.Struct):
    item: str
    passed: bool
    note: str


class FindingOut(msgspec.Struct, kw_only=True):
    seq: int
    description: str
    category_code: str | None
    answers: dict[str, Any]
    lat: float | None
    lng: float | None
    photos: list[str]
    case_id: str | None


class InspectionSummaryOut(msgspec.Struct, kw_only=True):
    id: str
    inspector_id: str
    department_id: str | None
    place: str
    object_name: str
    object_kind: str
    passed: bool
    inspected_at: datetime
    created_at: datetime


class InspectionOut(InspectionSummaryOut, kw_only=True):
    lat: float | None
    lng: float | None
    coord: CoordSystem
    grid_code: str | None
    checklist: list[ChecklistItemOut]
    notes: str
    photos: list[str]
    findings: list[FindingOut]


class InspectionPageOut(msgspec.Struct):
    items: list[InspectionSummaryOut]
    next_cursor: str | None


__all__ = [
    "ActionOut",
    "AttendanceReportOut",
    "AttendanceRowOut",
    "AttendanceSummaryOut",
    "CheckTaskIn",
    "ChecklistItemOut",
    "ClientWrite",
    "EventOut",
    "ExtensionIn",
    "FindingCaseIn",
    "FindingCaseOp",
    "FindingOut",
    "FinishIn",
    "InspectionIn",
    "InspectionOut",
    "InspectionPageOut",
    "InspectionSummaryOut",
    "MileageOut",
    "MileageRowOut",
    "PhotoOut",
    "PlaybackOut",
    "PunchIn",
    "ReportIn",
    "ReturnIn",
    "ShiftIn",
    "ShiftListOut",
    "ShiftOut",
    "ShiftsIn",
    "SyncIn",
    "SyncOut",
    "TakeIn",
    "TaskDetailOut",
    "TaskOut",
    "TaskPageOut",
    "TrackIn",
    "TrackPointOut",
    "UploadIn",
    "UploadOut",
    "VerifyIn",
]
