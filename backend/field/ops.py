"""Field-app writes (外勤操作), applied once each — online one at a time, or offline in a batch (离线同步).

Every write carries a client-generated id and the client's timestamp. ``apply`` runs it inside a
savepoint together with a receipt row (``field_client_ops``: the id, a hash of the body and the
result), so a write is either done *and* remembered, or neither. The same id again gets the stored
result back (``duplicate``); the same id with a different body is refused. Two copies racing: the
receipt's primary key makes the second wait for the first and then find its receipt.

``sync`` applies a batch in order, one savepoint per item, and reports each item as ``applied``,
``duplicate`` (with the original result), ``conflict`` (the world moved on — e.g. the case was closed
meanwhile: nothing done, the case's current state in the details) or ``rejected`` (invalid, not
allowed or not found: nothing done). Case steps go through ``backend.cases.service``; the case
service's clock runs on the server's time, attendance on the client's (within the offline window).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseAction, CaseKind, CaseSource, Role, Urgency
from backend.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound, ValidationFailed
from backend.field import attendance, inspections, tracks
from backend.field.enums import OpKind, Outcome
from backend.field.partitions import TrackPartitions
from backend.field.photos import MAX_PHOTOS, confirm_photos
from backend.field.rules import TrackPoint, effective_time, fingerprint
from backend.field.settings import get_field_settings
from backend.geo import CoordSystem, to_wgs84
from backend.geo.cache import GeocoderCache
from backend.models import Case, FieldClientOp, Staff
from backend.storage import StorageService
from backend.worktime import Unit

GEOCODER = GeocoderCache()
"""The grid geocoder of this process (reports and inspections locate their point with it)."""
MAX_BATCH = 200

ClientId = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Note = Annotated[str, msgspec.Meta(max_length=1000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Photos = Annotated[list[Annotated[str, msgspec.Meta(max_length=300)]], msgspec.Meta(max_length=MAX_PHOTOS)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lng = Annotated[float, msgspec.Meta(ge=-180, le=180)]


# --- payloads (what each kind of write carries) -----------------------------------------------------


class Payload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class TakeOp(Payload, kw_only=True):
    """签收 — a handler or officer takes a dispatched case."""

    case_id: uuid.UUID
    note: Note = ""


class FinishOp(Payload, kw_only=True):
    """处置完成 — with at least one photo of the result."""

    case_id: uuid.UUID
    note: Note = ""
    photos: Annotated[Photos, msgspec.Meta(min_length=1)]


class VerifyOp(Payload, kw_only=True):
    """核实反馈 — the collector says whether the reported problem is real."""

    case_id: uuid.UUID
    confirmed: bool
    note: Note = ""
    photos: Photos = []


class CheckOp(Payload, kw_only=True):
    """核查 — the collector checks the disposal: pass closes the case, fail sends it back (返工)."""

    case_id: uuid.UUID
    passed: bool
    note: Note = ""
    photos: Photos = []


class ReturnOp(Payload, kw_only=True):
    """回退 — not this department's case."""

    case_id: uuid.UUID
    reason: Reason


class ExtensionOp(Payload, kw_only=True):
    """延期申请."""

    case_id: uuid.UUID
    amount: Annotated[float, msgspec.Meta(gt=0, le=60)]
    unit: Unit
    reason: Reason


class ReportOp(Payload, kw_only=True):
    """监督员上报 — a collector reports a problem; ``close_on_spot`` fixes it at once (即办件, 自行处置)."""

    category_code: Annotated[str, msgspec.Meta(min_length=1, max_length=5)]
    lat: Lat
    lng: Lng
    coord: CoordSystem = CoordSystem.GCJ02
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    photos: Photos = []
    answers: dict[str, Any] = {}
    urgency: Urgency | None = None
    close_on_spot: bool = False
    note: Note = ""


class PunchOp(Payload, kw_only=True):
    """签到/签退 at a position."""

    lat: Lat
    lng: Lng
    coord: CoordSystem = CoordSystem.GCJ02
    accuracy: Annotated[float, msgspec.Meta(ge=0, le=10_000)] | None = None


class GpsPoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One fix: RFC 3339 time, position, accuracy in metres and speed in m/s if the phone has it."""

    ts: datetime
    lat: Lat
    lng: Lng
    accuracy: Annotated[float, msgspec.Meta(ge=0)]
    speed: Annotated[float, msgspec.Meta(ge=0)] | None = None


class TrackOp(Payload, kw_only=True):
    """轨迹上传 — a batch of fixes (every 10–30 s online, more after being offline)."""

    coord: CoordSystem = CoordSystem.GCJ02
    points: Annotated[list[GpsPoint], msgspec.Meta(min_length=1, max_length=tracks.MAX_POINTS)]


class ChecklistItemIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    passed: bool
    note: Note = ""


class FindingIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    category_code: Annotated[str, msgspec.Meta(min_length=1, max_length=5)] | None = None
    answers: dict[str, Any] = {}
    """Answers to the category's questions (追问), needed when a case is opened from the finding."""
    lat: Lat | None = None
    lng: Lng | None = None
    photos: Photos = []
    create_case: bool = False
    urgency: Urgency | None = None


class InspectionOp(Payload, kw_only=True):
    """执法检查 — place, object, checklist, findings (each may open a case), photos."""

    place: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    object_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    object_kind: Annotated[str, msgspec.Meta(max_length=40)] = ""
    lat: Lat | None = None
    lng: Lng | None = None
    coord: CoordSystem = CoordSystem.GCJ02
    checklist: Annotated[list[ChecklistItemIn], msgspec.Meta(min_length=1, max_length=inspections.MAX_ITEMS)]
    findings: Annotated[list[FindingIn], msgspec.Meta(max_length=inspections.MAX_FINDINGS)] = []
    notes: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    photos: Photos = []


class FindingCaseOp(Payload, kw_only=True):
    """A case from a finding of an earlier inspection."""

    inspection_id: uuid.UUID
    seq: Annotated[int, msgspec.Meta(ge=1, le=inspections.MAX_FINDINGS)]
    urgency: Urgency | None = None
    answers: dict[str, Any] = {}


# --- results (stored with the receipt, returned again for a duplicate) -------------------------------


class OpResult(msgspec.Struct, kw_only=True):
    client_id: str
    replayed: bool = False
    """True when this is the stored result of an earlier, identical write (nothing was done again)."""


class CaseResult(OpResult, kw_only=True):
    case_id: str
    number: str
    state: str
    light: str
    deadline: datetime | None
    version: int
    extension_pending: bool = False
    similar_case_ids: list[str] = []


class PunchResult(OpResult, kw_only=True):
    shift_id: str
    day: date
    check_in_at: datetime | None
    check_out_at: datetime | None
    outside_m: float | None
    """Metres outside the shift's grids (0 inside; null when the shift has no grids)."""
    status: str
    flags: list[str]
    late_s: int
    early_leave_s: int


class TrackResult(OpResult, kw_only=True):
    accepted: int
    dropped: dict[str, int]
    """Dropped points by reason: inaccurate, too_fast, jump, duplicate, future, too_old, invalid."""
    live: bool
    """Whether the newest point was put on the live map (a collector on shift)."""


class FindingResult(msgspec.Struct, kw_only=True):
    seq: int
    case_id: str | None


class InspectionResult(OpResult, kw_only=True):
    inspection_id: str
    passed: bool
    findings: list[FindingResult]


PAYLOADS: dict[OpKind, type[Payload]] = {
    OpKind.case_take: TakeOp,
    OpKind.case_finish: FinishOp,
    OpKind.case_verify: VerifyOp,
    OpKind.case_check: CheckOp,
    OpKind.case_return: ReturnOp,
    OpKind.case_extension: ExtensionOp,
    OpKind.case_report: ReportOp,
    OpKind.check_in: PunchOp,
    OpKind.check_out: PunchOp,
    OpKind.track_upload: TrackOp,
    OpKind.inspection_create: InspectionOp,
    OpKind.finding_case: FindingCaseOp,
}
RESULTS: dict[OpKind, type[OpResult]] = {
    **dict.fromkeys(
        (
            OpKind.case_take,
            OpKind.case_finish,
            OpKind.case_verify,
            OpKind.case_check,
            OpKind.case_return,
            OpKind.case_extension,
            OpKind.case_report,
        ),
        CaseResult,
    ),
    OpKind.check_in: PunchResult,
    OpKind.check_out: PunchResult,
    OpKind.track_upload: TrackResult,
    OpKind.inspection_create: InspectionResult,
    OpKind.finding_case: InspectionResult,
}
ROLES: dict[OpKind, frozenset[str]] = {
    OpKind.case_report: frozenset({Role.collector.value}),
    OpKind.inspection_create: frozenset({Role.officer.value, Role.handler.value}),
    OpKind.finding_case: frozenset({Role.officer.value, Role.handler.value}),
    OpKind.check_in: frozenset({Role.collector.value, Role.officer.value, Role.handler.value}),
    OpKind.check_out: frozenset({Role.collector.value, Role.officer.value, Role.handler.value}),
    OpKind.track_upload: frozenset({Role.collector.value, Role.officer.value, Role.handler.value}),
}
"""Who may send a kind of write; the case steps are checked by the case service's own rules."""


@dataclass
class FieldContext:
    """Who writes and with what: the caller, their ``Actor``, and the process's resources."""

    session: AsyncSession
    redis: Redis
    storage: StorageService
    partitions: TrackPartitions
    staff: Staff
    actor: cases.Actor
    now: datetime


# --- executing one write -----------------------------------------------------------------------------


def _case_result(client_id: str, case: Case, similar: list[str] | None = None) -> CaseResult:
    return CaseResult(
        client_id=client_id,
        case_id=str(case.id),
        number=case.number,
        state=case.state,
        light=case.light,
        deadline=case.deadline,
        version=case.version,
        extension_pending=case.extension_request is not None,
        similar_case_ids=similar or [],
    )


def _punch_result(client_id: str, punch: attendance.Punch) -> PunchResult:
    verdict = punch.assessment
    return PunchResult(
        client_id=client_id,
        shift_id=str(punch.shift.id),
        day=punch.shift.day,
        check_in_at=punch.record.check_in_at,
        check_out_at=punch.record.check_out_at,
        outside_m=punch.fence.outside_m if punch.fence else None,
        status=verdict.status.value,
        flags=[f.value for f in verdict.flags],
        late_s=verdict.late_s,
        early_leave_s=verdict.early_leave_s,
    )


def _inspection_result(client_id: str, view: inspections.InspectionView) -> InspectionResult:
    return InspectionResult(
        client_id=client_id,
        inspection_id=str(view.inspection.id),
        passed=view.inspection.passed,
        findings=[FindingResult(seq=f.seq, case_id=str(f.case_id) if f.case_id else None) for f in view.findings],
    )


async def _photos(ctx: FieldContext, keys: list[str]) -> list[str]:
    return await confirm_photos(ctx.storage, ctx.staff.id, keys)


Executor = Callable[[FieldContext, str, datetime, Any], Awaitable[OpResult]]


async def _take(ctx: FieldContext, client_id: str, _: datetime, op: TakeOp) -> OpResult:
    case = await cases.step(ctx.session, ctx.actor, op.case_id, CaseAction.take, note=op.note, now=ctx.now)
    return _case_result(client_id, case)


async def _finish(ctx: FieldContext, client_id: str, _: datetime, op: FinishOp) -> OpResult:
    # Scope and role first: a case that is not the caller's costs no storage round trip.
    await cases.get_case(ctx.session, ctx.actor, op.case_id)
    ctx.actor.role_for(CaseAction.finish)
    photos = await _photos(ctx, op.photos)
    case = await cases.step(
        ctx.session, ctx.actor, op.case_id, CaseAction.finish, note=op.note, attachments=photos, now=ctx.now
    )
    return _case_result(client_id, case)


async def _verify(ctx: FieldContext, client_id: str, _: datetime, op: VerifyOp) -> OpResult:
    await cases.get_case(ctx.session, ctx.actor, op.case_id)
    ctx.actor.role_for(CaseAction.verify_done)
    photos = await _photos(ctx, op.photos)
    verdict = "属实" if op.confirmed else "不属实"
    note = f"核实结果：{verdict}。{op.note}".rstrip("。") if op.note else f"核实结果：{verdict}"
    case = await cases.step(
        ctx.session, ctx.actor, op.case_id, CaseAction.verify_done, note=note, attachments=photos, now=ctx.now
    )
    return _case_result(client_id, case)


async def _check(ctx: FieldContext, client_id: str, _: datetime, op: CheckOp) -> OpResult:
    await cases.get_case(ctx.session, ctx.actor, op.case_id)
    ctx.actor.role_for(CaseAction.check_pass if op.passed else CaseAction.check_fail)
    photos = await _photos(ctx, op.photos)
    case = await cases.check(
        ctx.session, ctx.actor, op.case_id, op.passed, note=op.note, attachments=photos, now=ctx.now
    )
    return _case_result(client_id, case)


async def _return(ctx: FieldContext, client_id: str, _: datetime, op: ReturnOp) -> OpResult:
    case = await cases.return_case(ctx.session, ctx.actor, op.case_id, op.reason, now=ctx.now)
    return _case_result(client_id, case)


async def _extension(ctx: FieldContext, client_id: str, _: datetime, op: ExtensionOp) -> OpResult:
    case = await cases.request_extension(
        ctx.session, ctx.actor, op.case_id, op.amount, op.unit.value, op.reason, now=ctx.now
    )
    return _case_result(client_id, case)


async def _report(ctx: FieldContext, client_id: str, _: datetime, op: ReportOp) -> OpResult:
    if op.close_on_spot:
        ctx.actor.role_for(CaseAction.close_on_spot)
    lat, lng = to_wgs84(op.lat, op.lng, op.coord)
    photos = await _photos(ctx, op.photos)
    result = await cases.intake(
        ctx.session,
        await GEOCODER.get(ctx.session),
        ctx.actor,
        cases.IntakeData(
            source=CaseSource.collector,
            category_code=op.category_code,
            lat=lat,
            lng=lng,
            description=op.description,
            address=op.address,
            urgency=op.urgency,
            kind=CaseKind.immediate if op.close_on_spot else CaseKind.promise,
            answers=op.answers,
            photos=photos,
        ),
        now=ctx.now,
    )
    case = result.case
    if op.close_on_spot:
        case = await cases.step(
            ctx.session, ctx.actor, case.id, CaseAction.close_on_spot, note=op.note or "即办结案", now=ctx.now
        )
    return _case_result(client_id, case, [str(s.case_id) for s in result.similar])


async def _punch(ctx: FieldContext, client_id: str, client_ts: datetime, op: PunchOp, *, out: bool) -> OpResult:
    lat, lng = to_wgs84(op.lat, op.lng, op.coord)
    at = effective_time(client_ts, ctx.now, get_field_settings().max_offline)
    punch = attendance.check_out if out else attendance.check_in
    done = await punch(ctx.session, ctx.redis, ctx.staff, lat=lat, lng=lng, at=at, received_at=ctx.now)
    return _punch_result(client_id, done)


async def _check_in(ctx: FieldContext, client_id: str, client_ts: datetime, op: PunchOp) -> OpResult:
    return await _punch(ctx, client_id, client_ts, op, out=False)


async def _check_out(ctx: FieldContext, client_id: str, client_ts: datetime, op: PunchOp) -> OpResult:
    return await _punch(ctx, client_id, client_ts, op, out=True)


async def _track(ctx: FieldContext, client_id: str, _: datetime, op: TrackOp) -> OpResult:
    points = []
    for p in op.points:
        if p.ts.tzinfo is None:
            raise ValidationFailed("point times need a time zone offset", code="invalid_points")
        lat, lng = to_wgs84(p.lat, p.lng, op.coord)
        points.append(TrackPoint(p.ts, lat, lng, p.accuracy, p.speed))
    done = await tracks.upload(ctx.session, ctx.redis, ctx.partitions, ctx.staff, points, now=ctx.now)
    return TrackResult(client_id=client_id, accepted=done.accepted, dropped=done.dropped, live=done.live)


def _wgs84(lat: float | None, lng: float | None, coord: CoordSystem) -> tuple[float | None, float | None]:
    if lat is None or lng is None:
        return lat, lng
    return to_wgs84(lat, lng, coord)


async def _inspection(ctx: FieldContext, client_id: str, client_ts: datetime, op: InspectionOp) -> OpResult:
    lat, lng = _wgs84(op.lat, op.lng, op.coord)
    photos = await _photos(ctx, op.photos)
    findings = []
    for f in op.findings:
        f_lat, f_lng = _wgs84(f.lat, f.lng, op.coord)
        findings.append(
            inspections.FindingInput(
                description=f.description,
                category_code=f.category_code,
                answers=f.answers,
                lat=f_lat,
                lng=f_lng,
                photos=await _photos(ctx, f.photos),
                create_case=f.create_case,
                urgency=f.urgency,
            )
        )
    view = await inspections.create_inspection(
        ctx.session,
        await GEOCODER.get(ctx.session),
        ctx.staff,
        ctx.actor,
        inspections.InspectionInput(
            place=op.place,
            object_name=op.object_name,
            object_kind=op.object_kind,
            inspected_at=effective_time(client_ts, ctx.now, get_field_settings().max_offline),
            lat=lat,
            lng=lng,
            checklist=[inspections.ChecklistItem(c.item, c.passed, c.note) for c in op.checklist],
            findings=findings,
            notes=op.notes,
            photos=photos,
        ),
        now=ctx.now,
    )
    return _inspection_result(client_id, view)


async def _finding_case(ctx: FieldContext, client_id: str, _: datetime, op: FindingCaseOp) -> OpResult:
    view = await inspections.case_from_finding(
        ctx.session,
        await GEOCODER.get(ctx.session),
        ctx.staff,
        ctx.actor,
        op.inspection_id,
        op.seq,
        urgency=op.urgency,
        answers=op.answers,
        now=ctx.now,
    )
    return _inspection_result(client_id, view)


EXECUTORS: dict[OpKind, Executor] = {
    OpKind.case_take: _take,
    OpKind.case_finish: _finish,
    OpKind.case_verify: _verify,
    OpKind.case_check: _check,
    OpKind.case_return: _return,
    OpKind.case_extension: _extension,
    OpKind.case_report: _report,
    OpKind.check_in: _check_in,
    OpKind.check_out: _check_out,
    OpKind.track_upload: _track,
    OpKind.inspection_create: _inspection,
    OpKind.finding_case: _finding_case,
}


# --- applying once ----------------------------------------------------------------------------------


def payload_of(kind: OpKind, data: msgspec.Struct) -> Payload:
    """The payload part of a request body that carries a payload's fields plus the client's id and time."""
    payload_type = PAYLOADS[kind]
    if type(data) is payload_type:
        return data  # type: ignore[return-value]
    return payload_type(**{name: getattr(data, name) for name in payload_type.__struct_fields__})


def _replayed(kind: OpKind, receipt: FieldClientOp) -> OpResult:
    result = msgspec.convert(receipt.result, RESULTS[kind])
    return msgspec.structs.replace(result, replayed=True)


def _check_receipt(receipt: FieldClientOp, kind: OpKind, digest: str) -> None:
    if receipt.kind != kind.value or receipt.request_hash != digest:
        raise Conflict(
            "this client_id was used for a different write",
            code="client_id_reused",
            details={"client_id": receipt.client_id, "kind": receipt.kind},
        )


async def apply(
    ctx: FieldContext, kind: OpKind, client_id: str, client_ts: datetime, payload: Payload
) -> tuple[Outcome, OpResult]:
    """Apply one write once: ``(applied, result)`` the first time, ``(duplicate, stored result)`` after.

    Raises the domain error of a write that cannot be done (nothing of it is kept)."""
    if not isinstance(payload, PAYLOADS[kind]):
        raise ValidationFailed(f"a {kind.value} write needs a {PAYLOADS[kind].__name__}")
    allowed = ROLES.get(kind)
    if allowed is not None and not allowed & set(ctx.staff.roles):
        raise Forbidden("your role may not do this", code="forbidden", details={"kind": kind.value})
    if client_ts.tzinfo is None:
        raise ValidationFailed("client_ts needs a time zone offset", code="invalid_client_ts")
    digest = fingerprint(kind.value, msgspec.to_builtins(payload))
    session = ctx.session
    key = (ctx.staff.id, client_id)
    receipt = await session.get(FieldClientOp, key)
    if receipt is not None:
        _check_receipt(receipt, kind, digest)
        return Outcome.duplicate, _replayed(kind, receipt)
    async with session.begin_nested():
        claimed = await session.scalar(
            insert(FieldClientOp)
            .values(
                staff_id=ctx.staff.id,
                client_id=client_id,
                kind=kind.value,
                request_hash=digest,
                client_ts=client_ts,
                result={},
                applied_at=ctx.now,
            )
            .on_conflict_do_nothing(index_elements=["staff_id", "client_id"])
            .returning(FieldClientOp.client_id)
        )
        if claimed is not None:
            result = await EXECUTORS[kind](ctx, client_id, client_ts, payload)
            await session.execute(
                update(FieldClientOp)
                .where(FieldClientOp.staff_id == ctx.staff.id, FieldClientOp.client_id == client_id)
                .values(result=msgspec.to_builtins(result))
            )
            return Outcome.applied, result
    # Another request with this id committed while we waited on its row: it is a duplicate.
    receipt = await session.get(FieldClientOp, key, populate_existing=True)
    assert receipt is not None
    _check_receipt(receipt, kind, digest)
    return Outcome.duplicate, _replayed(kind, receipt)


# --- offline batches --------------------------------------------------------------------------------


class SyncItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One write of an offline batch: its client id and time, its kind, and the kind's payload."""

    client_id: ClientId
    client_ts: datetime
    kind: str
    payload: dict[str, Any]


class SyncError(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: Any = None


class SyncItemResult(msgspec.Struct, kw_only=True):
    client_id: str
    kind: str
    outcome: Outcome
    result: dict[str, Any] | None = None
    error: SyncError | None = None


async def _current_case(ctx: FieldContext, payload: Payload) -> dict[str, Any] | None:
    """The case's state now (for a conflict report), if the write was about a case the caller sees."""
    case_id = getattr(payload, "case_id", None)
    if not isinstance(case_id, uuid.UUID):
        return None
    try:
        case = await cases.get_case(ctx.session, ctx.actor, case_id)
    except NotFound:
        return None
    return {"case_id": str(case.id), "state": case.state, "version": case.version, "light": case.light}


def _error(exc: DomainError, extra: dict[str, Any] | None = None) -> SyncError:
    details = exc.details
    if extra:
        details = {**(details if isinstance(details, dict) else {"details": details}), **extra}
    return SyncError(code=exc.code, message=exc.message, details=details)


async def sync_one(ctx: FieldContext, item: SyncItem) -> SyncItemResult:
    try:
        kind = OpKind(item.kind)
    except ValueError:
        return SyncItemResult(
            client_id=item.client_id,
            kind=item.kind,
            outcome=Outcome.rejected,
            error=SyncError(code="unknown_kind", message=f"unknown kind {item.kind!r}",
                            details={"allowed": [k.value for k in OpKind]}),
        )  # fmt: skip
    try:
        payload = msgspec.convert(item.payload, PAYLOADS[kind], strict=False)
    except msgspec.ValidationError as exc:
        return SyncItemResult(
            client_id=item.client_id,
            kind=kind.value,
            outcome=Outcome.rejected,
            error=SyncError(code="validation_failed", message=str(exc)),
        )
    try:
        outcome, result = await apply(ctx, kind, item.client_id, item.client_ts, payload)
    except InvalidTransition as exc:
        current = await _current_case(ctx, payload)
        return SyncItemResult(
            client_id=item.client_id, kind=kind.value, outcome=Outcome.conflict,
            error=_error(exc, {"current": current} if current else None),
        )  # fmt: skip
    except Conflict as exc:
        outcome = Outcome.rejected if exc.code == "client_id_reused" else Outcome.conflict
        current = await _current_case(ctx, payload) if outcome is Outcome.conflict else None
        return SyncItemResult(
            client_id=item.client_id, kind=kind.value, outcome=outcome,
            error=_error(exc, {"current": current} if current else None),
        )  # fmt: skip
    except DomainError as exc:
        return SyncItemResult(client_id=item.client_id, kind=kind.value, outcome=Outcome.rejected, error=_error(exc))
    return SyncItemResult(
        client_id=item.client_id, kind=kind.value, outcome=outcome, result=msgspec.to_builtins(result)
    )


async def sync(ctx: FieldContext, items: list[SyncItem]) -> list[SyncItemResult]:
    """离线同步 — apply a batch in order; one result per item (see the module's docstring)."""
    if not 1 <= len(items) <= MAX_BATCH:
        raise ValidationFailed(f"between 1 and {MAX_BATCH} items per batch", code="invalid_batch")
    return [await sync_one(ctx, item) for item in items]
