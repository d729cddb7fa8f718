"""停车 — parking guidance to a destination, a lot's detail, my plates, my parking sessions, paying a
session, receipts, feedback on a lot."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorBody
from app.idempotency import IdempotencyKey
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.geo import CoordSystem, GridGeocoder, to_wgs84
from backend.models import ParkingReceipt
from backend.parking import service as parking
from backend.parking.enums import PaymentChannel, SpaceType
from backend.parking.service import SessionView
from miniprogram_api.controllers._common import SIGNED_IN, WECHAT_DOWN, local
from miniprogram_api.controllers.places_out import (
    availability_out,
    fee_rule_out,
    feedback_out,
    guidance_out,
    hours_out,
    maybe_local,
    position,
)
from miniprogram_api.controllers.reports import Lat, Lng
from miniprogram_api.places_schemas import (
    WALKING_NOTE,
    Coord,
    FeedbackCreated,
    LotDetail,
    LotList,
    LotOut,
    ParkingFeedbackIn,
    PayIn,
    PaymentOut,
    PlateIn,
    PlateList,
    PlateOut,
    ReceiptOut,
    ReceiptPage,
    SessionOut,
    SessionPage,
)

SCORING = (
    "tier 0: free spaces known from fresh device data; tier 1: unknown (no devices, or data older than three "
    "reporting intervals); tier 2: not recommended (devices report it full, or closed now). Within a tier, "
    "score = 70 × (1 − distance/radius) + 30 × min(free, 20)/20 (the second term in tier 0 only); "
    "ties go to the nearer lot."
)
PAYMENT_DOWN = {
    503: ResponseSpec(data_container=ErrorBody, description="The payment provider is not available; try again")
}
Cursor = Annotated[str | None, Parameter(max_length=200)]
Limit = Annotated[int, Parameter(ge=1, le=parking.MAX_PAGE)]


def session_out(view: SessionView) -> SessionOut:
    stay, fee = view.stay, view.fee
    return SessionOut(
        id=str(stay.id),
        lot_id=str(stay.lot_id),
        lot_name=view.lot.name,
        plate=stay.plate,
        state=stay.state,  # type: ignore[arg-type]
        entered_at=local(stay.entered_at),
        exited_at=maybe_local(stay.exited_at),
        stay_minutes=fee.stay_minutes if fee else 0,
        amount_fen=stay.amount_fen,
        amount_so_far_fen=fee.amount_fen if fee is not None and stay.state == "open" else None,
        free_reason=fee.free_reason if fee else None,
        caps_applied=list(fee.caps_applied) if fee else [],
        paid_at=maybe_local(stay.paid_at),
        receipt_id=str(view.receipt_id) if view.receipt_id else None,
    )


def receipt_out(r: ParkingReceipt) -> ReceiptOut:
    return ReceiptOut(
        id=str(r.id),
        number=r.number,
        session_id=str(r.session_id),
        plate=r.plate,
        lot_name=r.lot_name,
        entered_at=local(r.entered_at),
        exited_at=local(r.exited_at),
        amount_fen=r.amount_fen,
        channel=r.channel,
        transaction_id=r.transaction_id,
        paid_at=local(r.paid_at),
    )


class ParkingLotController(Controller):
    path = "/parking/lots"
    tags = ["parking"]

    @get(
        "/nearby",
        summary="Parking guidance: lots and on-street spaces near a destination, best first",
        description=(
            f"Within `radius_m` (at most {parking.MAX_RADIUS_M}) of the destination, at most `limit`. "
            f"{SCORING} `space_type` keeps lots that have that kind of space and judges availability for it. "
            f"{WALKING_NOTE} (from the lot to the destination). Without Redis: `source: database`, no live data."
        ),
    )
    async def nearby(
        self,
        state: State,
        lat: Lat,
        lng: Lng,
        coord: Coord = "gcj02",
        radius_m: Annotated[int, Parameter(ge=1, le=parking.MAX_RADIUS_M)] = 1000,
        limit: Annotated[int, Parameter(ge=1, le=parking.MAX_LIMIT)] = 10,
        space_type: SpaceType | None = None,
    ) -> LotList:
        wgs = to_wgs84(lat, lng, CoordSystem(coord))
        runtime = state.runtime
        found = await parking.guide(
            runtime.session_factory, runtime.redis, wgs.lat, wgs.lng, radius_m=radius_m, limit=limit,
            space_type=space_type,
        )  # fmt: skip
        items = []
        for hit in found.items:
            lot = hit.lot
            out_lat, out_lng = position(lot.lat, lot.lng, coord)
            items.append(
                LotOut(
                    id=lot.id,
                    code=lot.code,
                    name=lot.name,
                    kind=lot.kind,  # type: ignore[arg-type]
                    address=lot.address,
                    lat=out_lat,
                    lng=out_lng,
                    coord=coord,
                    open_now=hit.open_now,
                    hours_text=lot.hours.describe(),
                    capacity=dict(lot.capacity),
                    total_spaces=lot.total_spaces,
                    fee_text=lot.fee_rule.describe(),
                    distance_m=round(hit.distance_m),
                    walking_m=hit.walk.metres,
                    walking_min=hit.walk.minutes,
                    availability=availability_out(hit.availability),
                    guidance=guidance_out(hit.guidance),
                )
            )
        return LotList(
            items=items,
            source=found.source,  # type: ignore[arg-type]
            live_available=found.live_available,
            scoring=SCORING,
            walking_note=WALKING_NOTE,
        )

    @get("/{lot_id:uuid}", summary="One lot: capacity, opening hours, fee rule and free spaces")
    async def detail(
        self, db_session: AsyncSession, state: State, lot_id: uuid.UUID, coord: Coord = "gcj02"
    ) -> LotDetail:
        view = await parking.lot_detail(db_session, state.runtime.redis, lot_id)
        lot = view.lot
        out_lat, out_lng = position(lot.lat, lot.lng, coord)
        return LotDetail(
            id=lot.id,
            code=lot.code,
            name=lot.name,
            kind=lot.kind,  # type: ignore[arg-type]
            address=lot.address,
            lat=out_lat,
            lng=out_lng,
            coord=coord,
            open_now=view.open_now,
            opening_hours=hours_out(lot.hours),
            capacity=dict(lot.capacity),
            total_spaces=lot.total_spaces,
            fee_rule=fee_rule_out(lot.fee_rule),
            department=lot.department_name,
            availability=availability_out(view.availability),
            live_available=view.live_available,
        )

    @post(
        "/{lot_id:uuid}/feedback",
        summary="Feedback on a lot (停车服务反馈): becomes a case at the lot",
        description="Category E0706 at the lot's location, through the same intake as any report.",
        status_code=201,
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def feedback(
        self,
        citizen: CitizenPrincipal,
        data: ParkingFeedbackIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        geocoder: GridGeocoder,
        lot_id: uuid.UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> FeedbackCreated:
        result = await parking.submit_feedback(
            db_session,
            state.runtime.storage,
            geocoder,
            wechat,
            citizen,
            lot_id,
            feedback_type=data.feedback_type,
            description=data.description,
            plate=data.plate,
            photo_keys=data.photos,
        )
        return feedback_out(result)


class PlateController(Controller):
    path = "/parking/plates"
    tags = ["parking"]

    @get("", summary="My plates", responses=SIGNED_IN)
    async def mine(self, citizen: CitizenPrincipal, db_session: AsyncSession) -> PlateList:
        plates = await parking.list_plates(db_session, citizen)
        return PlateList(
            items=[PlateOut(plate=p.plate, new_energy=p.new_energy, bound_at=local(p.created_at)) for p in plates]
        )

    @post(
        "",
        summary="Bind a plate (绑定车牌)",
        description=(
            "A Chinese plate: 7 characters (鄂A12345), or 8 on a new-energy plate (鄂AD12345, 鄂A12345D); "
            f"spaces and dots are ignored; 400 invalid_plate otherwise. At most {parking.MAX_PLATES} plates "
            "(409 too_many_plates). Binding a plate again returns it. Its sessions from a week before "
            "binding on are visible."
        ),
        status_code=201,
        responses=SIGNED_IN,
    )
    async def bind(
        self, citizen: CitizenPrincipal, data: PlateIn, db_session: AsyncSession, idempotency_key: IdempotencyKey = None
    ) -> PlateOut:
        binding = await parking.bind_plate(db_session, citizen, data.plate)
        return PlateOut(plate=binding.plate, new_energy=binding.new_energy, bound_at=local(binding.created_at))

    @delete("/{plate:str}", summary="Unbind a plate", status_code=204, responses=SIGNED_IN)
    async def unbind(
        self, citizen: CitizenPrincipal, db_session: AsyncSession, plate: Annotated[str, Parameter(max_length=20)]
    ) -> None:
        await parking.unbind_plate(db_session, citizen, plate)


class ParkingSessionController(Controller):
    path = "/parking/sessions"
    tags = ["parking"]

    @get(
        "",
        summary="Parking sessions of my plates, newest first",
        description="`plate` narrows to one of my plates. An open session shows what leaving now would cost.",
        responses=SIGNED_IN,
    )
    async def mine(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        plate: Annotated[str | None, Parameter(max_length=20)] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> SessionPage:
        page = await parking.list_sessions(db_session, citizen, plate=plate, limit=limit, cursor=cursor)
        return SessionPage(items=[session_out(v) for v in page.items], next_cursor=page.next_cursor)

    @get("/{session_id:uuid}", summary="One parking session of my plates", responses=SIGNED_IN)
    async def detail(self, citizen: CitizenPrincipal, db_session: AsyncSession, session_id: uuid.UUID) -> SessionOut:
        return session_out(await parking.get_session(db_session, citizen, session_id))

    @post(
        "/{session_id:uuid}/pay",
        summary="Pay a session's fee",
        description=(
            "After exit (409 session_open before, already_paid, nothing_to_pay). WeChat Pay or Alipay by "
            "`channel`; with the dev provider the payment completes at once and the receipt is returned. "
            "Send an `Idempotency-Key`; a pending payment is reused rather than placed twice."
        ),
        status_code=200,
        responses={**SIGNED_IN, **PAYMENT_DOWN},
    )
    async def pay(
        self,
        citizen: CitizenPrincipal,
        data: PayIn,
        db_session: AsyncSession,
        state: State,
        session_id: uuid.UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> PaymentOut:
        settings = state.runtime.settings
        channel = PaymentChannel(data.channel)
        configured = settings.wechatpay.provider if channel is PaymentChannel.WECHAT else settings.alipay.provider
        outcome = await parking.start_payment(db_session, citizen, session_id, channel, configured_provider=configured)
        p = outcome.payment
        return PaymentOut(
            payment_id=str(p.id),
            out_trade_no=p.out_trade_no,
            state=p.state,  # type: ignore[arg-type]
            amount_fen=p.amount_fen,
            channel=p.channel,
            client_params=outcome.client_params,
            session_state=outcome.stay.state,
            receipt=receipt_out(outcome.receipt) if outcome.receipt else None,
        )


class ReceiptController(Controller):
    path = "/parking/receipts"
    tags = ["parking"]

    @get("", summary="Parking receipts I paid, newest first", responses=SIGNED_IN)
    async def mine(
        self, citizen: CitizenPrincipal, db_session: AsyncSession, limit: Limit = 20, cursor: Cursor = None
    ) -> ReceiptPage:
        rows, next_cursor = await parking.list_receipts(db_session, citizen, limit=limit, cursor=cursor)
        return ReceiptPage(items=[receipt_out(r) for r in rows], next_cursor=next_cursor)

    @get("/{receipt_id:uuid}", summary="One parking receipt (停车缴费凭证)", responses=SIGNED_IN)
    async def detail(self, citizen: CitizenPrincipal, db_session: AsyncSession, receipt_id: uuid.UUID) -> ReceiptOut:
        return receipt_out(await parking.get_receipt(db_session, citizen, receipt_id))
