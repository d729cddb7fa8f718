"""Parking end to end: guidance (a full lot is not recommended, stale availability is unknown), the
lot detail, a session from gate entry to exit, the fee, the dev payment and the receipt; plates;
payments settled by a provider's notice; passes; gate readings from ingest; feedback → case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.citizens.service import CitizenPrincipal
from backend.errors import Conflict
from backend.geo import haversine_m
from backend.models import Case, Citizen, ParkingGateEvent, ParkingReceipt, ParkingSession
from backend.parking import service as parking
from backend.parking.enums import GateOutcome, PaymentChannel
from backend.payments_api import PaidNotice, PaymentIntent, PaymentOrder, notify_paid, register_provider
from backend.places import index
from tests.integration.places.places_support import CENTRE, MP, add_lot, report, sign_in

FLAT_2_PER_HOUR = {"bands": [{"span": "00:00-24:00", "per_hour_fen": 200}], "unit_minutes": 60}
GUIDE = f"{MP}/parking/lots/nearby"


async def guide(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(GUIDE, params={"lat": CENTRE[0], "lng": CENTRE[1], "coord": "wgs84", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_guidance_full_lot_not_recommended_stale_is_unknown(
    client: httpx.AsyncClient, db: Any, redis: Any
) -> None:
    await add_lot(db, "G-FULL", 0, 80, availability_source="gate")  # the nearest, but full
    await add_lot(db, "G-FREE", 90, 600, availability_source="gate")  # farther, known free
    await add_lot(db, "G-STALE", 180, 150, availability_source="gate")  # near, but its count is stale
    await add_lot(db, "G-NONE", 270, 300)  # no devices at all
    await add_lot(db, "G-CLOSED", 45, 100, availability_source="gate", opening_hours={"weekly": {}})
    await add_lot(db, "G-SEG", 135, 400, kind="street", availability_source="detectors", capacity={"normal": 3})
    await db.flush()
    await parking.set_spaces(
        db,
        (await parking.get_lot(db, "G-SEG")).id,
        [("G-SEG-1", "normal"), ("G-SEG-2", "normal"), ("G-SEG-3", "normal")],
    )
    await db.commit()
    await report(redis, "parking_lot", "G-FULL", free_spaces=0)
    await report(redis, "parking_lot", "G-FREE", free_spaces=35)
    stale_at = await report(redis, "parking_lot", "G-STALE", free_spaces=40, age_s=3600)
    await report(redis, "parking_lot", "G-CLOSED", free_spaces=50)
    await report(redis, "parking_space", "G-SEG-1", occupied=True, interval_s=600)
    await report(redis, "parking_space", "G-SEG-2", occupied=False, interval_s=600)
    await report(redis, "parking_space", "G-SEG-3", occupied=True, interval_s=600)

    body = await guide(client)
    order = [
        (i["code"], i["guidance"]["tier"], i["guidance"]["recommended"], i["guidance"]["reason"]) for i in body["items"]
    ]
    assert order == [
        ("G-FREE", 0, True, "free"),  # 35 free at 600 m: 70×0.4 + 30 = 58
        ("G-SEG", 0, True, "free"),  # 1 free at 400 m: 70×0.6 + 1.5 = 43.5
        ("G-STALE", 1, True, "unknown"),  # stale: never taken as free, below every known-free lot
        ("G-NONE", 1, True, "unknown"),
        ("G-FULL", 2, False, "full"),  # not recommended: last, however near (80 m)
        ("G-CLOSED", 2, False, "closed"),  # 100 m
    ]
    by_code = {i["code"]: i for i in body["items"]}
    assert by_code["G-FREE"]["guidance"]["score"] == 58.0
    assert by_code["G-FULL"]["availability"] == {
        **by_code["G-FULL"]["availability"], "known": True, "full": True, "free_spaces": 0,
    }  # fmt: skip
    stale = by_code["G-STALE"]["availability"]
    assert (stale["known"], stale["free_spaces"]) == (False, None)
    assert abs(datetime.fromisoformat(stale["stale_since"]) - (stale_at + timedelta(seconds=180))) < timedelta(
        milliseconds=2
    )
    assert by_code["G-SEG"]["availability"]["free_by_type"] == {"normal": 1}
    assert "70 × (1 − distance/radius)" in body["scoring"]

    # the detectors all report occupied: the segment is full too
    await report(redis, "parking_space", "G-SEG-2", occupied=True, interval_s=600)
    body = await guide(client)
    assert [i["code"] for i in body["items"] if i["guidance"]["recommended"] and i["guidance"]["tier"] == 0] == [
        "G-FREE"
    ]
    # a space type: only lots that have it
    await add_lot(db, "G-EV", 0, 900, capacity={"normal": 10, "charging": 4})
    await db.commit()
    await index.drain()  # the after-commit update of the nearby index
    assert [i["code"] for i in (await guide(client, space_type="charging"))["items"]] == ["G-EV"]


async def test_lot_detail(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    rule = {**parking.DAY_NIGHT_RULE}
    lot = await add_lot(
        db, "D-1", 0, 100, availability_source="gate", fee_rule=rule, capacity={"normal": 20, "disabled": 2}
    )
    await db.commit()
    await report(redis, "parking_lot", "D-1", free_spaces=7)
    response = await client.get(f"{MP}/parking/lots/{lot.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["capacity"] == {"normal": 20, "disabled": 2} and body["total_spaces"] == 22
    assert body["availability"]["free_spaces"] == 7
    fee = body["fee_rule"]
    assert fee["text"].startswith("白天 08:00-20:00 ¥3/小时；夜间 20:00-08:00 ¥1/小时（最高¥5）")
    assert [(b["span"], b["per_hour_amount_fen"], b["cap_amount_fen"]) for b in fee["bands"]] == [
        ("08:00-20:00", 300, None),
        ("20:00-08:00", 100, 500),
    ]
    assert (fee["free_minutes"], fee["daily_cap_amount_fen"], fee["daily_cap_mode"]) == (15, 3000, "calendar_day")
    missing = await client.get(f"{MP}/parking/lots/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "parking_lot_not_found"


async def test_session_entry_exit_fee_dev_payment_receipt(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    lot = await add_lot(db, "S-1", 0, 100, availability_source="gate", fee_rule=FLAT_2_PER_HOUR)
    await db.commit()
    alice = await sign_in(client)
    bound = await client.post(f"{MP}/parking/plates", json={"plate": "鄂A·D1234 5"}, headers=alice)
    assert bound.status_code == 201, bound.text
    assert bound.json()["plate"] == "鄂AD12345" and bound.json()["new_energy"] is True

    entered = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, minutes=30)
    entry = await parking.record_gate_event(db, lot.id, "鄂AD12345", "in", entered, "gate-1")
    assert entry.outcome is GateOutcome.OPENED
    await db.commit()
    sessions = (await client.get(f"{MP}/parking/sessions", headers=alice)).json()["items"]
    assert [(s["state"], s["amount_fen"], s["amount_so_far_fen"]) for s in sessions] == [("open", None, 600)]
    early = await client.post(f"{MP}/parking/sessions/{entry.session_id}/pay", json={}, headers=alice)
    assert early.status_code == 409 and early.json()["error"]["code"] == "session_open"

    exit_ = await parking.record_gate_event(
        db, "S-1", "鄂AD12345", "out", entered + timedelta(hours=2, minutes=5), "gate-2"
    )
    assert (exit_.outcome, exit_.session_id, exit_.state, exit_.amount_fen) == (
        GateOutcome.CLOSED,
        entry.session_id,
        "unpaid",
        600,
    )
    again = await parking.record_gate_event(
        db, "S-1", "鄂AD12345", "out", entered + timedelta(hours=2, minutes=5), "gate-2"
    )
    assert again.outcome is GateOutcome.DUPLICATE and again.amount_fen == 600
    await db.commit()

    detail = await client.get(f"{MP}/parking/sessions/{entry.session_id}", headers=alice)
    assert detail.status_code == 200
    assert (detail.json()["state"], detail.json()["amount_fen"], detail.json()["stay_minutes"]) == ("unpaid", 600, 125)

    paid = await client.post(
        f"{MP}/parking/sessions/{entry.session_id}/pay",
        json={"channel": "wechat"},
        headers={**alice, "Idempotency-Key": "pay-1"},
    )
    assert paid.status_code == 200, paid.text
    payment = paid.json()
    assert (payment["state"], payment["amount_fen"], payment["session_state"]) == ("paid", 600, "paid")
    receipt = payment["receipt"]
    assert receipt["amount_fen"] == 600 and receipt["plate"] == "鄂AD12345" and receipt["number"].startswith("PR")
    replay = await client.post(
        f"{MP}/parking/sessions/{entry.session_id}/pay",
        json={"channel": "wechat"},
        headers={**alice, "Idempotency-Key": "pay-1"},
    )
    assert replay.json() == payment  # the stored answer, nothing paid twice
    twice = await client.post(f"{MP}/parking/sessions/{entry.session_id}/pay", json={}, headers=alice)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_paid"

    got = await client.get(f"{MP}/parking/receipts/{receipt['id']}", headers=alice)
    assert got.status_code == 200 and got.json() == receipt
    listed = (await client.get(f"{MP}/parking/receipts", headers=alice)).json()
    assert [r["id"] for r in listed["items"]] == [receipt["id"]]
    assert (await client.get(f"{MP}/parking/sessions/{entry.session_id}", headers=alice)).json()[
        "receipt_id"
    ] == receipt["id"]

    # another citizen sees none of it
    bob = await sign_in(client, "dev-bob")
    assert (await client.get(f"{MP}/parking/receipts/{receipt['id']}", headers=bob)).status_code == 404
    assert (await client.get(f"{MP}/parking/sessions/{entry.session_id}", headers=bob)).status_code == 404
    assert (await client.get(f"{MP}/parking/sessions", headers=bob)).json()["items"] == []
    assert (await client.get(f"{MP}/parking/receipts/{uuid.uuid4()}", headers=alice)).status_code == 404


async def test_gate_event_outcomes(db: Any, redis: Any) -> None:
    lot = await add_lot(db, "E-1", 0, 100, fee_rule={**FLAT_2_PER_HOUR, "free_minutes": 15})
    base = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    stray = await parking.record_gate_event(db, lot.id, "鄂B12345", "out", base, "g")
    assert stray.outcome is GateOutcome.UNMATCHED_EXIT
    first = await parking.record_gate_event(db, lot.id, "鄂B12345", "in", base, "g")
    second = await parking.record_gate_event(db, lot.id, "鄂B12345", "in", base + timedelta(hours=1), "g")
    assert second.outcome is GateOutcome.REOPENED  # the exit after the first entry was missed
    assert (await db.get(ParkingSession, first.session_id)).state == "no_exit"
    short = await parking.record_gate_event(db, lot.id, "鄂B12345", "out", base + timedelta(hours=1, minutes=10), "g")
    assert (short.outcome, short.state, short.amount_fen) == (GateOutcome.CLOSED, "settled", 0)  # within 15 min
    with pytest.raises(Exception) as bad_plate:
        await parking.record_gate_event(db, lot.id, "ABC", "in", base, "g")
    assert getattr(bad_plate.value, "code", None) == "invalid_plate"
    events = (await db.scalars(select(ParkingGateEvent).where(ParkingGateEvent.lot_id == lot.id))).all()
    assert sorted(e.outcome for e in events) == ["closed", "opened", "reopened", "unmatched_exit"]


async def test_monthly_pass_and_gate_readings_from_ingest(db: Any, redis: Any) -> None:
    lot = await add_lot(db, "M-1", 0, 100, fee_rule=FLAT_2_PER_HOUR)
    base = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    await parking.add_pass(db, "鄂C12345", base - timedelta(days=10), base + timedelta(hours=1), lot_id=lot.id)
    readings: list[tuple[datetime, dict[str, Any]]] = [
        (base, {"plate": "鄂C12345", "direction": "in", "free_spaces": 10}),
        (base + timedelta(hours=3), {"plate": "鄂C12345", "direction": "out"}),
        (base + timedelta(minutes=1), {"plate": "misread", "direction": "in"}),  # skipped, logged
        (base + timedelta(minutes=2), {"free_spaces": 9}),  # not an event
    ]
    results = await parking.record_gate_readings(db, lot_ref="M-1", device_id="gate-dev", readings=readings)
    assert [r.outcome for r in results] == [GateOutcome.OPENED, GateOutcome.CLOSED]
    # the pass covered the first hour: two hours billed
    assert results[1].amount_fen == 400
    stay = await db.get(ParkingSession, results[1].session_id)
    assert stay.fee_detail["billed_minutes"] == 120
    # a gate of a lot that does not exist fails nothing
    assert await parking.record_gate_readings(db, lot_ref="NO-SUCH", device_id="x", readings=readings[:1]) == []


async def test_plate_binding(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    alice = await sign_in(client)
    for bad in ("鄂A1234", "鄂I12345", "ABCDEFG", "鄂AD1234A", "鄂A123456"):
        response = await client.post(f"{MP}/parking/plates", json={"plate": bad}, headers=alice)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_plate", bad
    assert (await client.post(f"{MP}/parking/plates", json={"plate": "鄂A12345"})).status_code == 401
    for plate in ("鄂A12345", "鄂a 12345", "鄂A12345D", "京B9XY88", "粤BF12345"):
        response = await client.post(f"{MP}/parking/plates", json={"plate": plate}, headers=alice)
        assert response.status_code == 201, response.text
    mine = (await client.get(f"{MP}/parking/plates", headers=alice)).json()["items"]
    assert [(p["plate"], p["new_energy"]) for p in mine] == [
        ("鄂A12345", False), ("鄂A12345D", True), ("京B9XY88", False), ("粤BF12345", True),
    ]  # fmt: skip
    assert (await client.post(f"{MP}/parking/plates", json={"plate": "沪AD00001"}, headers=alice)).status_code == 201
    too_many = await client.post(f"{MP}/parking/plates", json={"plate": "沪AD00002"}, headers=alice)
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "too_many_plates"
    assert (await client.delete(f"{MP}/parking/plates/鄂A12345", headers=alice)).status_code == 204
    assert (await client.delete(f"{MP}/parking/plates/鄂A12345", headers=alice)).status_code == 404
    filtered = await client.get(f"{MP}/parking/sessions", params={"plate": "鄂A12345"}, headers=alice)
    assert filtered.status_code == 404 and filtered.json()["error"]["code"] == "plate_not_bound"


async def test_sessions_are_cursor_paginated(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    lot = await add_lot(db, "C-1", 0, 100, fee_rule=FLAT_2_PER_HOUR)
    alice = await sign_in(client)
    assert (await client.post(f"{MP}/parking/plates", json={"plate": "鄂D12345"}, headers=alice)).status_code == 201
    start = datetime.now(UTC) - timedelta(days=2)
    for n in range(5):
        at = start + timedelta(hours=3 * n)
        await parking.record_gate_event(db, lot.id, "鄂D12345", "in", at)
        await parking.record_gate_event(db, lot.id, "鄂D12345", "out", at + timedelta(hours=1))
    await db.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{MP}/parking/sessions", params=params, headers=alice)).json()
        seen += [s["entered_at"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    bad = await client.get(f"{MP}/parking/sessions", params={"cursor": "!!"}, headers=alice)
    assert bad.status_code == 400


class PendingProvider:
    """A provider whose orders stay pending until its notification comes (like WeChat Pay)."""

    name = "fakepay"

    async def create(self, order: PaymentOrder) -> PaymentIntent:
        return PaymentIntent(self.name, order.out_trade_no, "pending", order.amount_fen, {"package": "prepay_id=wx1"})

    async def query(self, out_trade_no: str) -> PaymentIntent:
        return PaymentIntent(self.name, out_trade_no, "pending", 0)


async def test_a_provider_notice_settles_the_payment(db: Any, redis: Any) -> None:
    register_provider("fakepay", PendingProvider)
    citizen = Citizen(id=uuid.uuid4(), openid=f"o-{uuid.uuid4().hex[:12]}")
    db.add(citizen)
    await db.flush()
    me = CitizenPrincipal(citizen.id, citizen.openid)
    await parking.bind_plate(db, me, "鄂E12345")
    lot = await add_lot(db, "N-1", 0, 100, fee_rule=FLAT_2_PER_HOUR)
    at = datetime.now(UTC) - timedelta(hours=3)
    opened = await parking.record_gate_event(db, lot.id, "鄂E12345", "in", at)
    assert opened.session_id is not None
    await parking.record_gate_event(db, lot.id, "鄂E12345", "out", at + timedelta(minutes=90))
    first = await parking.start_payment(db, me, opened.session_id, PaymentChannel.WECHAT, configured_provider="fakepay")
    assert (first.payment.state, first.receipt, first.client_params) == ("pending", None, {"package": "prepay_id=wx1"})
    retry = await parking.start_payment(db, me, opened.session_id, PaymentChannel.WECHAT, configured_provider="fakepay")
    assert retry.payment.id == first.payment.id  # the pending order is reused
    no = first.payment.out_trade_no
    with pytest.raises(Conflict):
        await notify_paid(db, PaidNotice("parking", no, "4200001", 1, datetime.now(UTC), "fakepay"))
    notice = PaidNotice("parking", no, "4200001", 400, datetime.now(UTC), "fakepay")
    await notify_paid(db, notice)
    await notify_paid(db, notice)  # a repeated notice changes nothing
    receipts = (await db.scalars(select(ParkingReceipt).where(ParkingReceipt.session_id == opened.session_id))).all()
    assert [(r.amount_fen, r.transaction_id) for r in receipts] == [(400, "4200001")]
    assert (await db.get(ParkingSession, opened.session_id)).state == "paid"


async def test_feedback_on_a_lot_becomes_a_case(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    lot = await add_lot(db, "FB-1", 0, 10, address="江汉路停车场")
    await db.commit()
    alice = await sign_in(client)
    body = {"feedback_type": "收费争议", "description": "出场多收了一小时", "plate": "鄂a12345"}
    response = await client.post(f"{MP}/parking/lots/{lot.id}/feedback", json=body, headers=alice)
    assert response.status_code == 201, response.text
    case = await db.get(Case, uuid.UUID(response.json()["id"]))
    assert case is not None and case.category_code == "E0706"
    assert haversine_m(case.lat, case.lng, lot.lat, lot.lng) < 0.01
    assert case.answers == {"feedback_type": "收费争议", "lot_id": "FB-1", "plate_number": "鄂A12345"}
