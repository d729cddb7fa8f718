"""Parking (停车): lots and on-street segments, guidance to a destination with live free spaces, parking
sessions from gate events, plates citizens bind, paying a session and its receipt, monthly passes, and
feedback that becomes a case.

Gate events come from the gate devices through device ingest: a ``parking_gate`` reading with
``plate`` and ``direction`` is checked by ``gate_event_of`` (a malformed one is rejected, per reading)
and, once accepted, goes through ``record_gate_readings`` in the batch's transaction — a repeated
event is recognised and does nothing.

Services flush; the caller commits. Lot changes stage their change to the nearby index.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend import live
from backend.cases.service import IntakeResult
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.geo import BBox, GridGeocoder
from backend.models import (
    Department,
    ParkingGateEvent,
    ParkingLot,
    ParkingPass,
    ParkingPayment,
    ParkingReceipt,
    ParkingSession,
    ParkingSpace,
    PlateBinding,
    new_id,
)
from backend.parking.enums import (
    AvailabilitySource,
    GateDirection,
    GateOutcome,
    LotKind,
    PaymentChannel,
    PaymentState,
    SessionState,
    SpaceType,
)
from backend.parking.rules import (
    Availability,
    Fee,
    FeeRule,
    Guidance,
    LotInfo,
    availability_from_detectors,
    availability_from_gate,
    compute_fee,
    guidance,
    normalize_plate,
)
from backend.payments_api import PaidNotice, PaymentOrder, on_paid, provider_for
from backend.places import service as places
from backend.places.index import PlaceIndex, SessionSource
from backend.places.live_cache import LiveCache
from backend.places.rules import OpeningHours, Walk, walking
from backend.storage import StorageService
from backend.worktime import SHANGHAI

log = logging.getLogger("chengguan.parking")

LOT_KIND = "parking_lot"  # gate devices' object kind (object id: the lot's code)
GATE_DEVICE_TYPE = "parking_gate"  # the device type whose plate readings are gate events
SPACE_KIND = "parking_space"  # detectors' object kind (object id: the space's code)
FEEDBACK_CATEGORY = "E0706"  # 停车服务反馈
FEEDBACK_TYPES = ("收费争议", "泊位信息不准", "道闸或设备故障", "服务态度", "其他")
MAX_RADIUS_M = 5000
MAX_LIMIT = 50
MAX_CANDIDATES = 100  # lots ranked per guidance request (the nearest ones)
MAX_PLATES = 5
MAX_PAGE = 50
PAYMENT_PURPOSE = "parking"
# A citizen who binds a plate sees its sessions from a week before the binding on: enough to pay
# for the stay that made them install the app, not a stranger's parking history.
BIND_LOOKBACK = timedelta(days=7)


# --- the in-memory record and the index -----------------------------------------------------------------


def _info(row: ParkingLot, department_name: str | None, spaces: Sequence[tuple[str, str]]) -> LotInfo:
    return LotInfo(
        id=str(row.id),
        code=row.code,
        name=row.name,
        kind=row.kind,
        address=row.address,
        lat=row.lat,
        lng=row.lng,
        capacity={str(k): int(v) for k, v in (row.capacity or {}).items()},
        total_spaces=row.total_spaces,
        hours=OpeningHours.from_json(row.opening_hours),
        fee_rule=FeeRule.from_json(row.fee_rule),
        source=AvailabilitySource(row.availability_source),
        spaces=tuple(spaces),
        department_name=department_name,
    )


async def _infos(session: AsyncSession, where: Any = None) -> list[LotInfo]:
    stmt = select(ParkingLot, Department.name).outerjoin(Department, Department.id == ParkingLot.department_id)
    if where is not None:
        stmt = stmt.where(where)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    spaces: dict[uuid.UUID, list[tuple[str, str]]] = {}
    detector_lots = [lot.id for lot, _ in rows if lot.availability_source == AvailabilitySource.DETECTORS]
    if detector_lots:
        space_rows = await session.execute(
            select(ParkingSpace.lot_id, ParkingSpace.code, ParkingSpace.space_type)
            .where(ParkingSpace.lot_id.in_(detector_lots))
            .order_by(ParkingSpace.code)
        )
        for lot_id, code, space_type in space_rows.all():
            spaces.setdefault(lot_id, []).append((code, space_type))
    return [_info(lot, dept, spaces.get(lot.id, [])) for lot, dept in rows]


async def _load_all(session: AsyncSession) -> list[LotInfo]:
    return await _infos(session)


async def _load_box(session: AsyncSession, box: BBox) -> list[LotInfo]:
    return await _infos(
        session,
        and_(ParkingLot.lat.between(box.min_lat, box.max_lat), ParkingLot.lng.between(box.min_lng, box.max_lng)),
    )


INDEX: PlaceIndex[LotInfo] = PlaceIndex("parking", _load_all, _load_box)


# --- editing lots ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotInput:
    """A lot or segment as an administrator gives it: WGS-84; ``capacity`` by space type;
    ``opening_hours`` and ``fee_rule`` in their JSON forms (None: always open / free)."""

    code: str
    name: str
    lat: float
    lng: float
    kind: str = LotKind.LOT.value
    address: str = ""
    capacity: Mapping[str, int] | None = None
    opening_hours: Mapping[str, Any] | None = None
    fee_rule: Mapping[str, Any] | None = None
    availability_source: str = AvailabilitySource.NONE.value
    department_id: uuid.UUID | None = None
    note: str = ""


def _columns(data: LotInput) -> dict[str, Any]:
    lat, lng = places.check_point(data.lat, data.lng)
    try:
        kind = LotKind(data.kind).value
        source = AvailabilitySource(data.availability_source).value
    except ValueError:
        raise ValidationFailed(
            "kind is lot or street; availability_source is gate, detectors or none", code="validation_failed"
        ) from None
    capacity: dict[str, int] = {}
    for space_type, count in (data.capacity or {}).items():
        if space_type not in {t.value for t in SpaceType}:
            raise ValidationFailed(f"unknown space type {space_type!r}", code="invalid_capacity")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100_000:
            raise ValidationFailed("a capacity is a whole number 0 … 100000", code="invalid_capacity")
        if count:
            capacity[space_type] = count
    return {
        "code": places.check_code(data.code, "parking lot"),
        "name": places.check_name(data.name, "parking lot"),
        "kind": kind,
        "address": (data.address or "").strip()[:200],
        "lat": lat,
        "lng": lng,
        "capacity": capacity,
        "total_spaces": sum(capacity.values()),
        "opening_hours": OpeningHours.from_json(data.opening_hours).to_json() if data.opening_hours else {},
        "fee_rule": FeeRule.from_json(data.fee_rule).to_json() if data.fee_rule else {},
        "availability_source": source,
        "department_id": data.department_id,
        "note": (data.note or "").strip()[:500],
    }


def _lot_is(ref: uuid.UUID | str) -> Any:
    try:
        return ParkingLot.id == uuid.UUID(str(ref))
    except ValueError:
        return ParkingLot.code == str(ref)


async def _lot(session: AsyncSession, ref: uuid.UUID | str, *, for_update: bool = False) -> ParkingLot:
    """A lot by id or by code."""
    stmt = select(ParkingLot).where(_lot_is(ref))
    if for_update:
        stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE: sessions may still point at it
    lot = await session.scalar(stmt)
    if lot is None:
        raise NotFound("no such parking lot", code="parking_lot_not_found")
    return lot


get_lot = _lot


async def lot_exists(session: AsyncSession, ref: uuid.UUID | str) -> bool:
    """Whether a lot has this id or code (its row is not loaded: a gate event locks and reads it)."""
    return await session.scalar(select(ParkingLot.id).where(_lot_is(ref))) is not None


EDITOR = places.PlaceEditor(
    ParkingLot,
    LotInput,
    columns=_columns,
    find=_lot,
    index=INDEX,
    what="parking lot",
    code_taken="parking_lot_code_taken",
)
EDITABLE = EDITOR.editable


async def create_lot(session: AsyncSession, data: LotInput) -> ParkingLot:
    return await EDITOR.create(session, data)


async def update_lot(session: AsyncSession, lot_id: uuid.UUID | str, **changes: Any) -> ParkingLot:
    return await EDITOR.update(session, lot_id, changes)


async def delete_lot(session: AsyncSession, lot_id: uuid.UUID | str) -> None:
    """Remove a lot that never had a parking session (one with sessions is kept for their records)."""
    lot = await _lot(session, lot_id)
    if await session.scalar(select(ParkingSession.id).where(ParkingSession.lot_id == lot.id).limit(1)) is not None:
        raise Conflict("this lot has parking sessions and cannot be deleted", code="parking_lot_in_use")
    await EDITOR.delete(session, lot)


async def set_spaces(session: AsyncSession, lot_id: uuid.UUID | str, spaces: Sequence[tuple[str, str]]) -> int:
    """Replace the detector-watched spaces of a lot (codes and types)."""
    lot = await _lot(session, lot_id)
    seen = set()
    for code, space_type in spaces:
        places.check_code(code, "parking space")
        if space_type not in {t.value for t in SpaceType}:
            raise ValidationFailed(f"unknown space type {space_type!r}", code="invalid_capacity")
        if code in seen:
            raise ValidationFailed(f"space {code!r} appears twice", code="validation_failed")
        seen.add(code)
    for space in (await session.scalars(select(ParkingSpace).where(ParkingSpace.lot_id == lot.id))).all():
        await session.delete(space)
    await session.flush()
    for code, space_type in spaces:
        session.add(ParkingSpace(id=new_id(), code=code, lot_id=lot.id, space_type=space_type))
    await session.flush()
    INDEX.stage_add(session, lot.id, lot.lat, lot.lng)
    return len(spaces)


# --- guidance -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotHit:
    lot: LotInfo
    distance_m: float
    walk: Walk
    availability: Availability
    guidance: Guidance
    open_now: bool


@dataclass(frozen=True)
class Guidances:
    items: list[LotHit]
    source: str
    live_available: bool


GATES = LiveCache(LOT_KIND)
DETECTORS = LiveCache(SPACE_KIND)


async def _availabilities(
    redis: Redis, lots: Sequence[LotInfo], want: SpaceType | None, now: datetime, *, cached: bool = True
) -> dict[str, Availability]:
    gate_codes = [lot.code for lot in lots if lot.source is AvailabilitySource.GATE]
    space_codes = [code for lot in lots if lot.source is AvailabilitySource.DETECTORS for code, _ in lot.spaces]
    if cached:
        gates = await GATES.get_many(redis, gate_codes, now) if gate_codes else {}
        spaces = await DETECTORS.get_many(redis, space_codes, now) if space_codes else {}
    else:
        gates = await live.get_states(redis, LOT_KIND, gate_codes, now=now) if gate_codes else {}
        spaces = await live.get_states(redis, SPACE_KIND, space_codes, now=now) if space_codes else {}
    out: dict[str, Availability] = {}
    for lot in lots:
        if lot.source is AvailabilitySource.GATE:
            out[lot.id] = availability_from_gate(gates.get(lot.code), want, now)
        elif lot.source is AvailabilitySource.DETECTORS:
            out[lot.id] = availability_from_detectors(lot.spaces, spaces, want, now)
        else:
            out[lot.id] = Availability(known=False, free=None, full=False)
    return out


async def guide(
    session: SessionSource,
    redis: Redis,
    lat: float,
    lng: float,
    *,
    radius_m: float = 1000,
    limit: int = 10,
    space_type: SpaceType | None = None,
    now: datetime | None = None,
) -> Guidances:
    """停车诱导 — lots and segments near a WGS-84 destination, best first by tier and score
    (``backend/parking/rules.py``): known free spaces, then unknown, then full or closed (not
    recommended)."""
    now = now or datetime.now(UTC)
    radius_m = min(max(radius_m, 1.0), MAX_RADIUS_M)
    limit = min(max(limit, 1), MAX_LIMIT)
    found = await INDEX.search(session, redis, lat, lng, radius_m)
    candidates = [h for h in found.hits if h.place.has_space_type(space_type)][:MAX_CANDIDATES]
    live_ok = found.source == "redis"
    availability: dict[str, Availability] = {}
    if live_ok and candidates:
        try:
            availability = await _availabilities(redis, [h.place for h in candidates], space_type, now)
        except RedisError:
            live_ok = False
    items = []
    for hit in candidates:
        lot = hit.place
        known = availability.get(lot.id, Availability(known=False, free=None, full=False))
        open_now = lot.hours.is_open(now)
        items.append(
            LotHit(
                lot,
                hit.distance_m,
                walking(hit.distance_m),
                known,
                guidance(hit.distance_m, radius_m, known, open_now),
                open_now,
            )
        )
    items.sort(key=lambda h: (h.guidance.tier, -h.guidance.score, h.distance_m, h.lot.id))
    return Guidances(items[:limit], found.source, live_ok)


@dataclass(frozen=True)
class LotView:
    lot: LotInfo
    availability: Availability
    open_now: bool
    live_available: bool


async def lot_detail(
    session: AsyncSession, redis: Redis, lot_id: uuid.UUID | str, *, now: datetime | None = None
) -> LotView:
    now = now or datetime.now(UTC)
    lot = await _lot(session, lot_id)
    info = (await _infos(session, ParkingLot.id == lot.id))[0]
    live_ok = True
    try:
        known = (await _availabilities(redis, [info], None, now, cached=False))[info.id]
    except RedisError:
        known, live_ok = Availability(known=False, free=None, full=False), False
    return LotView(info, known, info.hours.is_open(now), live_ok)


# --- gate events and sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """What one gate event did: the outcome, the session it opened or closed, and its fee."""

    outcome: GateOutcome
    session_id: uuid.UUID | None = None
    state: str | None = None
    amount_fen: int | None = None


async def _passes(
    session: AsyncSession, lot_id: uuid.UUID, plate: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    rows = await session.execute(
        select(ParkingPass.valid_from, ParkingPass.valid_to).where(
            ParkingPass.plate == plate,
            or_(ParkingPass.lot_id == lot_id, ParkingPass.lot_id.is_(None)),
            ParkingPass.valid_from < end,
            ParkingPass.valid_to > start,
        )
    )
    return [(a, b) for a, b in rows.all()]


def fee_rule_of(lot: ParkingLot) -> FeeRule:
    return FeeRule.from_json(lot.fee_rule)


async def record_gate_event(
    session: AsyncSession,
    lot_id: uuid.UUID | str,
    plate: str,
    direction: str,
    at: datetime,
    device_id: str | None = None,
) -> GateResult:
    """道闸进出 — a gate saw ``plate`` enter (``in``) or leave (``out``) the lot (id or code) at ``at``.

    Entry opens a session (an open one without an exit becomes ``no_exit``); exit closes the open
    session and sets its fee by the lot's rule and the plate's passes (``unpaid``, or ``settled``
    when there is nothing to pay). The same event again (lot, plate, direction, time) does nothing
    and says ``duplicate``; an exit without an open session is recorded as ``unmatched_exit``.
    Events of one lot are serialized on the lot's row."""
    if at.tzinfo is None:
        raise ValidationFailed("the event time needs a time zone", code="validation_failed")
    number = normalize_plate(plate).number
    try:
        way = GateDirection(direction)
    except ValueError:
        raise ValidationFailed("direction is in or out", code="invalid_direction") from None
    lot = await _lot(session, lot_id, for_update=True)
    event_id = await session.scalar(
        insert(ParkingGateEvent)
        .values(id=new_id(), lot_id=lot.id, plate=number, direction=way.value, at=at, device_id=device_id, outcome="")
        .on_conflict_do_nothing(constraint="uq_parking_gate_events_event")
        .returning(ParkingGateEvent.id)
    )
    if event_id is None:
        seen = await session.scalar(
            select(ParkingGateEvent).where(
                ParkingGateEvent.lot_id == lot.id,
                ParkingGateEvent.plate == number,
                ParkingGateEvent.direction == way.value,
                ParkingGateEvent.at == at,
            )
        )
        existing = await session.get(ParkingSession, seen.session_id) if seen and seen.session_id else None
        return GateResult(
            GateOutcome.DUPLICATE,
            existing.id if existing else None,
            existing.state if existing else None,
            existing.amount_fen if existing else None,
        )
    current = await session.scalar(
        select(ParkingSession)
        .where(
            ParkingSession.lot_id == lot.id, ParkingSession.plate == number, ParkingSession.state == SessionState.OPEN
        )
        .with_for_update()
    )
    if way is GateDirection.IN:
        outcome = GateOutcome.OPENED
        if current is not None:
            current.state = SessionState.NO_EXIT.value
            await session.flush()  # before the new open session (one open per lot and plate)
            outcome = GateOutcome.REOPENED
        stay = ParkingSession(
            id=new_id(), lot_id=lot.id, plate=number, entered_at=at, entry_device_id=device_id,
            state=SessionState.OPEN.value,
        )  # fmt: skip
        session.add(stay)
        await session.flush()
        result = GateResult(outcome, stay.id, stay.state, None)
    elif current is None or at < current.entered_at:
        result = GateResult(GateOutcome.UNMATCHED_EXIT)
    else:
        fee = compute_fee(
            fee_rule_of(lot), current.entered_at, at, await _passes(session, lot.id, number, current.entered_at, at)
        )
        current.exited_at = at
        current.exit_device_id = device_id
        current.amount_fen = fee.amount_fen
        current.fee_detail = fee.to_json()
        current.state = (SessionState.UNPAID if fee.amount_fen > 0 else SessionState.SETTLED).value
        await session.flush()
        result = GateResult(GateOutcome.CLOSED, current.id, current.state, fee.amount_fen)
    event = await session.get(ParkingGateEvent, event_id)
    assert event is not None
    event.outcome = result.outcome.value
    event.session_id = result.session_id
    await session.flush()
    return result


def gate_event_of(metrics: Mapping[str, Any]) -> tuple[str, GateDirection] | None:
    """The plate (normalized) and direction of a gate reading that is an event; None for one with
    neither (a count of free spaces, the barrier's state). Raises ``ValidationFailed`` —
    ``invalid_plate`` or ``invalid_direction`` — for a misread plate or half an event."""
    plate, direction = metrics.get("plate"), metrics.get("direction")
    if plate is None and direction is None:
        return None
    if not isinstance(plate, str):
        raise ValidationFailed("a gate reading with a direction needs a plate", code="invalid_plate")
    if direction not in (GateDirection.IN, GateDirection.OUT):
        raise ValidationFailed("a gate reading with a plate needs direction in or out", code="invalid_direction")
    return normalize_plate(plate).number, GateDirection(direction)


async def record_gate_readings(
    session: AsyncSession,
    *,
    lot_ref: str,
    device_id: str,
    readings: Iterable[tuple[datetime, Mapping[str, Any]]],
) -> list[GateResult]:
    """For device ingest: the gate events among a gate device's accepted readings (those with
    ``plate`` and ``direction``), in time order. A reading that cannot be an event (a plate the
    camera misread, a lot that does not exist) is logged and skipped, never failing the batch — ingest
    rejects those before (``gate_event_of``); each event runs in a savepoint of its own."""
    results: list[GateResult] = []
    for at, metrics in sorted(readings, key=lambda pair: pair[0]):
        try:
            event = gate_event_of(metrics)
            if event is None:
                continue
            async with session.begin_nested():
                results.append(await record_gate_event(session, lot_ref, *event, at, device_id))
        except (ValidationFailed, NotFound) as exc:
            log.warning("gate event of device %s skipped (%s): %s", device_id, exc.code, exc.message)
    return results


# --- plates ---------------------------------------------------------------------------------------------


async def list_plates(session: AsyncSession, principal: CitizenPrincipal) -> list[PlateBinding]:
    stmt = select(PlateBinding).where(PlateBinding.citizen_id == principal.citizen_id).order_by(PlateBinding.created_at)
    return list((await session.scalars(stmt)).all())


async def bind_plate(session: AsyncSession, principal: CitizenPrincipal, text: str) -> PlateBinding:
    """绑定车牌 — follow a plate (checked and normalised); binding it again returns the binding."""
    plate = normalize_plate(text)
    mine = await list_plates(session, principal)
    for binding in mine:
        if binding.plate == plate.number:
            return binding
    if len(mine) >= MAX_PLATES:
        raise Conflict(f"at most {MAX_PLATES} plates per citizen", code="too_many_plates")
    binding = PlateBinding(
        id=new_id(),
        citizen_id=principal.citizen_id,
        plate=plate.number,
        new_energy=plate.new_energy,
        created_at=datetime.now(UTC),
    )
    session.add(binding)
    await session.flush()
    return binding


async def unbind_plate(session: AsyncSession, principal: CitizenPrincipal, text: str) -> None:
    plate = normalize_plate(text).number
    binding = await session.scalar(
        select(PlateBinding).where(PlateBinding.citizen_id == principal.citizen_id, PlateBinding.plate == plate)
    )
    if binding is None:
        raise NotFound("this plate is not bound", code="plate_not_bound")
    await session.delete(binding)
    await session.flush()


async def _visibility(session: AsyncSession, principal: CitizenPrincipal) -> dict[str, datetime]:
    """Bound plate → the earliest entry time whose sessions the citizen may see."""
    return {b.plate: b.created_at - BIND_LOOKBACK for b in await list_plates(session, principal)}


def _visible_clause(visible: Mapping[str, datetime]) -> Any:
    return or_(*(and_(ParkingSession.plate == p, ParkingSession.entered_at >= since) for p, since in visible.items()))


@dataclass(frozen=True)
class SessionView:
    stay: ParkingSession
    lot: ParkingLot
    fee: Fee | None  # the fee so far for an open session; the set fee once it exited
    receipt_id: uuid.UUID | None


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionView]
    next_cursor: str | None


def _encode_cursor(stay: ParkingSession) -> str:
    return base64.urlsafe_b64encode(f"{stay.entered_at.isoformat()}|{stay.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", code="invalid_cursor") from None


async def _views(session: AsyncSession, stays: Sequence[ParkingSession], now: datetime) -> list[SessionView]:
    if not stays:
        return []
    lots = {
        lot.id: lot
        for lot in (await session.scalars(select(ParkingLot).where(ParkingLot.id.in_({s.lot_id for s in stays})))).all()
    }
    receipts = dict(
        (
            await session.execute(
                select(ParkingReceipt.session_id, ParkingReceipt.id).where(
                    ParkingReceipt.session_id.in_([s.id for s in stays])
                )
            )
        ).all()
    )
    views = []
    for stay in stays:
        lot = lots[stay.lot_id]
        fee = None
        if stay.state == SessionState.OPEN:
            fee = compute_fee(
                fee_rule_of(lot), stay.entered_at, now,
                await _passes(session, lot.id, stay.plate, stay.entered_at, now),
            )  # fmt: skip
        elif stay.exited_at is not None and stay.fee_detail is not None:
            fee = Fee(
                amount_fen=stay.amount_fen or 0,
                stay_minutes=int(stay.fee_detail.get("stay_minutes", 0)),
                billed_minutes=int(stay.fee_detail.get("billed_minutes", 0)),
                free_reason=stay.fee_detail.get("free_reason"),
                caps_applied=tuple(stay.fee_detail.get("caps_applied", ())),
            )
        views.append(SessionView(stay, lot, fee, receipts.get(stay.id)))
    return views


async def list_sessions(
    session: AsyncSession,
    principal: CitizenPrincipal,
    *,
    plate: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    now: datetime | None = None,
) -> SessionPage:
    """The sessions of my bound plates (or of one of them), newest entry first."""
    now = now or datetime.now(UTC)
    visible = await _visibility(session, principal)
    if plate is not None:
        number = normalize_plate(plate).number
        if number not in visible:
            raise NotFound("this plate is not bound", code="plate_not_bound")
        visible = {number: visible[number]}
    if not visible:
        return SessionPage([], None)
    limit = min(max(limit, 1), MAX_PAGE)
    stmt = (
        select(ParkingSession)
        .where(_visible_clause(visible))
        .order_by(ParkingSession.entered_at.desc(), ParkingSession.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        at, ident = _decode_cursor(cursor)
        stmt = stmt.where(tuple_(ParkingSession.entered_at, ParkingSession.id) < tuple_(at, ident))
    stays = list((await session.scalars(stmt)).all())
    more = len(stays) > limit
    stays = stays[:limit]
    return SessionPage(await _views(session, stays, now), _encode_cursor(stays[-1]) if more else None)


async def _visible_session(
    session: AsyncSession, principal: CitizenPrincipal, session_id: uuid.UUID, *, for_update: bool = False
) -> ParkingSession:
    visible = await _visibility(session, principal)
    stmt = select(ParkingSession).where(ParkingSession.id == session_id)
    if for_update:
        stmt = stmt.with_for_update()
    stay = await session.scalar(stmt)
    if stay is None or stay.plate not in visible or stay.entered_at < visible[stay.plate]:
        raise NotFound("no such parking session", code="parking_session_not_found")
    return stay


async def get_session(
    session: AsyncSession, principal: CitizenPrincipal, session_id: uuid.UUID, *, now: datetime | None = None
) -> SessionView:
    stay = await _visible_session(session, principal, session_id)
    return (await _views(session, [stay], now or datetime.now(UTC)))[0]


# --- paying ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentOutcome:
    payment: ParkingPayment
    stay: ParkingSession
    receipt: ParkingReceipt | None
    client_params: dict[str, str]


def _out_trade_no() -> str:
    return "PK" + new_id().hex[:30]


def _receipt_number(at: datetime) -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"PR{at.astimezone(SHANGHAI):%Y%m%d}-{tail}"


async def _settle(
    session: AsyncSession, payment: ParkingPayment, stay: ParkingSession, transaction_id: str, paid_at: datetime
) -> ParkingReceipt | None:
    payment.state = PaymentState.PAID.value
    payment.transaction_id = transaction_id
    payment.paid_at = paid_at
    if stay.state == SessionState.PAID:
        # Paid twice (two attempts both completed): the second is for payments/ to refund.
        log.warning("parking session %s paid again by %s", stay.id, payment.out_trade_no)
        await session.flush()
        return await session.scalar(select(ParkingReceipt).where(ParkingReceipt.session_id == stay.id))
    stay.state = SessionState.PAID.value
    stay.paid_at = paid_at
    lot = await session.get(ParkingLot, stay.lot_id)
    assert lot is not None and stay.exited_at is not None
    receipt = ParkingReceipt(
        id=new_id(),
        number=_receipt_number(paid_at),
        session_id=stay.id,
        payment_id=payment.id,
        citizen_id=payment.citizen_id,
        plate=stay.plate,
        lot_id=lot.id,
        lot_name=lot.name,
        entered_at=stay.entered_at,
        exited_at=stay.exited_at,
        amount_fen=payment.amount_fen,
        channel=payment.channel,
        provider=payment.provider,
        transaction_id=transaction_id,
        paid_at=paid_at,
    )
    session.add(receipt)
    await session.flush()
    return receipt


async def start_payment(
    session: AsyncSession,
    principal: CitizenPrincipal,
    session_id: uuid.UUID,
    channel: PaymentChannel,
    *,
    configured_provider: str,
) -> PaymentOutcome:
    """Pay an exited session's fee through the channel's provider (``configured_provider`` is its
    setting: ``dev`` pays at once). A pending payment of the same channel and amount is reused, so a
    retry never places a second order."""
    stay = await _visible_session(session, principal, session_id, for_update=True)
    if stay.state == SessionState.PAID:
        raise Conflict("this parking session is paid", code="already_paid")
    if stay.state == SessionState.OPEN:
        raise Conflict("the vehicle is still parked: the fee is set at exit", code="session_open")
    if stay.state != SessionState.UNPAID or not stay.amount_fen:
        raise Conflict("there is nothing to pay for this session", code="nothing_to_pay")
    provider = provider_for(channel.value, configured_provider)  # type: ignore[arg-type]
    payment = await session.scalar(
        select(ParkingPayment).where(
            ParkingPayment.session_id == stay.id,
            ParkingPayment.state == PaymentState.PENDING,
            ParkingPayment.channel == channel.value,
            ParkingPayment.provider == provider.name,
            ParkingPayment.amount_fen == stay.amount_fen,
        )
    )
    if payment is None:
        payment = ParkingPayment(
            id=new_id(),
            session_id=stay.id,
            citizen_id=principal.citizen_id,
            out_trade_no=_out_trade_no(),
            channel=channel.value,
            provider=provider.name,
            amount_fen=stay.amount_fen,
            state=PaymentState.PENDING.value,
        )
        session.add(payment)
        await session.flush()
    lot = await session.get(ParkingLot, stay.lot_id)
    intent = await provider.create(
        PaymentOrder(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            description=f"停车费 {stay.plate} {lot.name if lot else ''}"[:127],
            purpose=PAYMENT_PURPOSE,
            channel=channel.value,  # type: ignore[arg-type]
            payer_openid=principal.openid,
            expires_at=datetime.now(UTC) + timedelta(minutes=30),
        )
    )
    receipt = None
    if intent.state == "paid":
        if intent.amount_fen != payment.amount_fen:
            raise Conflict("the provider's amount differs from the order", code="amount_mismatch")
        receipt = await _settle(
            session, payment, stay, intent.transaction_id or payment.out_trade_no, intent.paid_at or datetime.now(UTC)
        )
    return PaymentOutcome(payment, stay, receipt, dict(intent.client_params))


async def payment_succeeded(session: AsyncSession, notice: PaidNotice) -> None:
    """A verified "paid" from ``payments/`` for one of our orders (idempotent)."""
    payment = await session.scalar(
        select(ParkingPayment).where(ParkingPayment.out_trade_no == notice.out_trade_no).with_for_update()
    )
    if payment is None:
        raise NotFound(f"no parking payment {notice.out_trade_no}", code="payment_not_found")
    if payment.state == PaymentState.PAID:
        return
    if notice.amount_fen != payment.amount_fen:
        raise Conflict("the paid amount differs from the order", code="amount_mismatch")
    stay = await session.scalar(select(ParkingSession).where(ParkingSession.id == payment.session_id).with_for_update())
    assert stay is not None
    await _settle(session, payment, stay, notice.transaction_id, notice.paid_at)


on_paid(PAYMENT_PURPOSE, payment_succeeded)


async def get_receipt(session: AsyncSession, principal: CitizenPrincipal, receipt_id: uuid.UUID) -> ParkingReceipt:
    """A receipt of mine: I paid it, or it is for a session of a plate I follow."""
    receipt = await session.get(ParkingReceipt, receipt_id)
    if receipt is None:
        raise NotFound("no such receipt", code="receipt_not_found")
    if receipt.citizen_id != principal.citizen_id:
        visible = await _visibility(session, principal)
        if receipt.plate not in visible or receipt.entered_at < visible[receipt.plate]:
            raise NotFound("no such receipt", code="receipt_not_found")
    return receipt


async def list_receipts(
    session: AsyncSession, principal: CitizenPrincipal, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[ParkingReceipt], str | None]:
    """Receipts I paid, newest first."""
    limit = min(max(limit, 1), MAX_PAGE)
    stmt = (
        select(ParkingReceipt)
        .where(ParkingReceipt.citizen_id == principal.citizen_id)
        .order_by(ParkingReceipt.paid_at.desc(), ParkingReceipt.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        at, ident = _decode_cursor(cursor)
        stmt = stmt.where(tuple_(ParkingReceipt.paid_at, ParkingReceipt.id) < tuple_(at, ident))
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = base64.urlsafe_b64encode(f"{last.paid_at.isoformat()}|{last.id}".encode()).decode().rstrip("=")
    return rows, next_cursor


# --- passes ---------------------------------------------------------------------------------------------


async def add_pass(
    session: AsyncSession,
    plate: str,
    valid_from: datetime,
    valid_to: datetime,
    *,
    lot_id: uuid.UUID | str | None = None,
    amount_fen: int = 0,
    note: str = "",
) -> ParkingPass:
    """月卡 — the plate parks free (in the lot, or every lot) from ``valid_from`` to ``valid_to``."""
    if valid_from.tzinfo is None or valid_to.tzinfo is None or valid_to <= valid_from:
        raise ValidationFailed("a pass runs from one aware time to a later one", code="validation_failed")
    if amount_fen < 0:
        raise ValidationFailed("amount_fen is not negative", code="validation_failed")
    lot = await _lot(session, lot_id) if lot_id is not None else None
    pass_ = ParkingPass(
        id=new_id(),
        plate=normalize_plate(plate).number,
        lot_id=lot.id if lot else None,
        valid_from=valid_from,
        valid_to=valid_to,
        amount_fen=amount_fen,
        note=note[:200],
    )
    session.add(pass_)
    await session.flush()
    return pass_


# --- feedback -------------------------------------------------------------------------------------------


async def submit_feedback(
    session: AsyncSession,
    storage: StorageService,
    geocoder: GridGeocoder,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    lot_id: uuid.UUID | str,
    *,
    feedback_type: str,
    description: str = "",
    plate: str | None = None,
    photo_keys: Sequence[str] = (),
) -> IntakeResult:
    """停车服务反馈 — a citizen's feedback on a lot becomes a case (E0706) at the lot."""
    lot = await _lot(session, lot_id)
    places.check_feedback_type(feedback_type, FEEDBACK_TYPES)
    answers: dict[str, Any] = {"feedback_type": feedback_type, "lot_id": lot.code}
    if plate:
        answers["plate_number"] = normalize_plate(plate).number
    return await places.report_at(
        session,
        storage,
        geocoder,
        provider,
        principal,
        lot,
        category_code=FEEDBACK_CATEGORY,
        answers=answers,
        description=description,
        photo_keys=photo_keys,
    )


# --- the demo city --------------------------------------------------------------------------------------

DAY_NIGHT_RULE: dict[str, Any] = {
    "bands": [
        {"span": "08:00-20:00", "per_hour_fen": 300, "label": "白天"},
        {"span": "20:00-08:00", "per_hour_fen": 100, "cap_fen": 500, "label": "夜间"},
    ],
    "unit_minutes": 60,
    "free_minutes": 15,
    "free_mode": "grace",
    "daily_cap_fen": 3000,
    "daily_cap_mode": "calendar_day",
}
STREET_RULE: dict[str, Any] = {
    "bands": [
        {"span": "07:30-19:30", "per_hour_fen": 400, "label": "白天"},
        {"span": "19:30-07:30", "per_hour_fen": 0, "label": "夜间免费"},
    ],
    "unit_minutes": 30,
    "free_minutes": 15,
    "free_mode": "grace",
    "per_entry_cap_fen": 2000,
}

# (code, name, kind, lat, lng, capacity, source, rule, hours)
DEMO_LOTS: list[tuple[str, str, str, float, float, dict[str, int], str, dict[str, Any] | None, str]] = [
    (
        "XZ-PL-0001",
        "问津广场停车场",
        "lot",
        30.8430,
        114.7975,
        {"normal": 180, "disabled": 4, "charging": 16},
        "gate",
        DAY_NIGHT_RULE,
        "24h",
    ),
    (
        "XZ-PL-0002",
        "邾城街道办地面停车场",
        "lot",
        30.8801,
        114.7520,
        {"normal": 60, "disabled": 2},
        "gate",
        DAY_NIGHT_RULE,
        "daily 07:00-22:00",
    ),
    (
        "XZ-PL-0003",
        "阳逻港客运站停车场",
        "lot",
        30.8790,
        114.7855,
        {"normal": 240, "disabled": 6, "charging": 20, "large": 12},
        "gate",
        DAY_NIGHT_RULE,
        "24h",
    ),
    (
        "XZ-PL-0004",
        "新洲区人民医院停车场",
        "lot",
        30.8545,
        114.8102,
        {"normal": 320, "disabled": 10, "charging": 24},
        "gate",
        {**DAY_NIGHT_RULE, "free_minutes": 30},
        "24h",
    ),
    (
        "XZ-PL-0005",
        "仓埠老街停车场",
        "lot",
        30.8811,
        114.8153,
        {"normal": 80},
        "none",
        DAY_NIGHT_RULE,
        "daily 06:00-23:00",
    ),
    (
        "XZ-PL-0006",
        "潘塘公园停车场",
        "lot",
        30.8490,
        114.8201,
        {"normal": 50, "disabled": 2},
        "none",
        None,
        "daily 06:00-22:00",
    ),
    (
        "XZ-PS-0001",
        "齐安大道路内泊位（东段）",
        "street",
        30.8447,
        114.8056,
        {"normal": 10, "disabled": 1, "charging": 1},
        "detectors",
        STREET_RULE,
        "24h",
    ),
    ("XZ-PS-0002", "问津路路内泊位", "street", 30.8412, 114.7990, {"normal": 8}, "detectors", STREET_RULE, "24h"),
    ("XZ-PS-0003", "三店商业街路内泊位", "street", 30.8560, 114.7830, {"normal": 12}, "detectors", STREET_RULE, "24h"),
    (
        "XZ-PS-0004",
        "汪集农贸市场路内泊位",
        "street",
        30.8792,
        114.8450,
        {"normal": 6},
        "none",
        STREET_RULE,
        "daily 06:00-20:00",
    ),
]


async def seed_demo_parking(session: AsyncSession) -> int:
    """The demo city's lots and on-street segments (idempotent: only into an empty table); the first
    is the one the demo gate ``XZ-PK-0001-G1`` watches."""
    if await session.scalar(select(func.count()).select_from(ParkingLot)):
        return 0
    owner = await session.scalar(select(Department.id).where(Department.code == "XZ-JG"))
    for code, name, kind, lat, lng, capacity, source, rule, hours in DEMO_LOTS:
        lot = await create_lot(
            session,
            LotInput(
                code=code,
                name=name,
                lat=lat,
                lng=lng,
                kind=kind,
                address=name.split("（")[0].replace("停车场", "").replace("路内泊位", "") or name,
                capacity=capacity,
                opening_hours=OpeningHours.parse_text(hours).to_json(),
                fee_rule=rule,
                availability_source=source,
                department_id=owner,
            ),
        )
        if source == AvailabilitySource.DETECTORS:
            spaces = [(f"{code}-{n:02d}", space_type) for space_type, count in capacity.items() for n in range(count)]
            # unique codes across types: number them in order
            spaces = [(f"{code}-{i + 1:02d}", space_type) for i, (_, space_type) in enumerate(spaces)]
            await set_spaces(session, lot.id, spaces)
    return len(DEMO_LOTS)
