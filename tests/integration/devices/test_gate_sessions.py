"""Parking gates (道闸) through device ingest: a gate's plate readings open and close the parking
sessions of the lot it is installed at, once; malformed ones are rejected per reading; other devices'
batches are ingested as before."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import live
from backend.models import DeviceType, ParkingGateEvent, ParkingLot, ParkingSession
from backend.parking import service as parking
from tests.integration.devices.conftest import MakeDevice, Sender

SenderFor = Callable[..., Sender]
FLAT_2_PER_HOUR = {"bands": [{"span": "00:00-24:00", "per_hour_fen": 200}], "unit_minutes": 60}
PLATE = "鄂AD12345"


async def add_lot(db: AsyncSession) -> ParkingLot:
    code = f"GT-{uuid.uuid4().hex[:8]}"
    return await parking.create_lot(
        db,
        parking.LotInput(
            code=code,
            name=f"测试停车场 {code}",
            lat=30.58,
            lng=114.29,
            capacity={"normal": 50},
            fee_rule=FLAT_2_PER_HOUR,
            availability_source="gate",
        ),
    )


async def sessions_of(db: AsyncSession, lot: ParkingLot) -> list[ParkingSession]:
    stmt = select(ParkingSession).where(ParkingSession.lot_id == lot.id).order_by(ParkingSession.entered_at)
    return list((await db.scalars(stmt.execution_options(populate_existing=True))).all())


async def events_of(db: AsyncSession, lot: ParkingLot) -> list[tuple[str, str]]:
    stmt = select(ParkingGateEvent.direction, ParkingGateEvent.outcome).where(ParkingGateEvent.lot_id == lot.id)
    return [(d, o) for d, o in (await db.execute(stmt.order_by(ParkingGateEvent.at))).all()]


async def stored_seqs(db: AsyncSession, device_id: Any) -> list[int]:
    rows = await db.execute(text("SELECT seq FROM device_readings WHERE device_id = :d ORDER BY seq"), {"d": device_id})
    return [r[0] for r in rows]


def statuses(body: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(r["seq"], r["status"], r.get("reason")) for r in body["results"]]


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


@pytest.fixture
def statements(db: AsyncSession) -> Iterator[list[str]]:
    """The SQL run on the test's connection (shared by the requests) from now on."""
    seen: list[str] = []
    sync = db.sync_session.get_bind()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(sync, "before_cursor_execute", record)
    yield seen
    event.remove(sync, "before_cursor_execute", record)


async def test_an_entry_and_an_exit_open_and_close_a_session_with_its_fee(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession, redis: Any
) -> None:
    lot = await add_lot(db)
    gate, secret = await make_device("parking_gate", object_id=lot.code)
    s = sender(gate, secret)
    entered, exited = hours_ago(3), hours_ago(1)
    response = await s.post(
        [
            s.reading(1, entered, plate="鄂A·D1234 5", direction="in", free_spaces=49),
            s.reading(2, hours_ago(2), free_spaces=30),  # a count, not an event
            s.reading(3, exited, plate=PLATE, direction="out", free_spaces=50, barrier_open=True),
        ]
    )
    assert response.status_code == 200, response.text
    assert statuses(response.json()) == [(1, "accepted", None), (2, "accepted", None), (3, "accepted", None)]

    [stay] = await sessions_of(db, lot)
    assert (stay.plate, stay.entered_at, stay.exited_at) == (PLATE, entered, exited)
    assert (stay.state, stay.amount_fen) == ("unpaid", 400)
    assert stay.fee_detail is not None and stay.fee_detail["billed_minutes"] == 120
    assert stay.entry_device_id == stay.exit_device_id == str(gate.id)
    assert await events_of(db, lot) == [("in", "opened"), ("out", "closed")]
    # The readings are telemetry as before: stored, and the newest values live.
    assert await stored_seqs(db, gate.id) == [1, 2, 3]
    state = await live.get_state(redis, "parking_lot", lot.code)
    assert state is not None and state.values()["free_spaces"] == 50


async def test_entry_and_exit_in_separate_batches_close_the_same_session(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    lot = await add_lot(db)
    entry_gate, entry_secret = await make_device("parking_gate", object_id=lot.code)
    exit_gate, exit_secret = await make_device("parking_gate", object_id=lot.code)
    entry, exit_ = sender(entry_gate, entry_secret), sender(exit_gate, exit_secret)

    assert (await entry.post([entry.reading(7, hours_ago(1.5), plate=PLATE, direction="in")])).json()["accepted"] == 1
    [stay] = await sessions_of(db, lot)
    assert (stay.state, stay.amount_fen, stay.exited_at) == ("open", None, None)

    assert (await exit_.post([exit_.reading(7, hours_ago(0.25), plate=PLATE, direction="out")])).json()["accepted"] == 1
    [closed] = await sessions_of(db, lot)
    assert closed.id == stay.id
    assert (closed.state, closed.amount_fen) == ("unpaid", 400)  # 1 h 15 min: two started hours
    assert (closed.entry_device_id, closed.exit_device_id) == (str(entry_gate.id), str(exit_gate.id))


async def test_a_replayed_batch_makes_no_second_gate_event(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    lot = await add_lot(db)
    gate, secret = await make_device("parking_gate", object_id=lot.code)
    s = sender(gate, secret)
    entered, exited = hours_ago(3), hours_ago(1)
    batch = [s.reading(1, entered, plate=PLATE, direction="in"), s.reading(2, exited, plate=PLATE, direction="out")]
    assert (await s.post(batch)).json()["accepted"] == 2
    [stay] = await sessions_of(db, lot)
    assert (stay.state, stay.amount_fen) == ("unpaid", 400)

    # The device lost the response and resends the batch (a new nonce): its readings are duplicates.
    again = await s.post(batch)
    assert again.status_code == 200, again.text
    assert statuses(again.json()) == [(1, "duplicate", None), (2, "duplicate", None)]
    # The same events under new sequence numbers (a gate that lost its counter) are stored as
    # readings, but are the same gate events: nothing new either.
    renumbered = await s.post(
        [s.reading(11, entered, plate=PLATE, direction="in"), s.reading(12, exited, plate=PLATE, direction="out")]
    )
    assert renumbered.json()["accepted"] == 2

    assert [(x.id, x.state, x.amount_fen) for x in await sessions_of(db, lot)] == [(stay.id, "unpaid", 400)]
    assert await events_of(db, lot) == [("in", "opened"), ("out", "closed")]
    assert await stored_seqs(db, gate.id) == [1, 2, 11, 12]


async def test_a_gate_reading_that_cannot_be_an_event_is_rejected_per_reading(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    lot = await add_lot(db)
    gate, secret = await make_device("parking_gate", object_id=lot.code)
    s = sender(gate, secret)
    at = hours_ago(1)
    response = await s.post(
        [
            s.reading(1, at, plate="misread", direction="in"),
            s.reading(2, at, plate=PLATE),  # no direction
            s.reading(3, at, direction="out", free_spaces=3),  # no plate
            s.reading(4, at, plate=PLATE, direction="sideways"),  # refused by the type's metric schema
            s.reading(5, at, free_spaces=4),
            s.reading(6, at, plate=PLATE, direction="in"),
        ]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == [
        (1, "rejected", "invalid_plate"),
        (2, "rejected", "invalid_direction"),
        (3, "rejected", "invalid_plate"),
        (4, "rejected", "invalid_metrics"),
        (5, "accepted", None),
        (6, "accepted", None),
    ]
    assert all(r["detail"] for r in body["results"][:4])
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 4)
    assert await stored_seqs(db, gate.id) == [5, 6]
    assert [(x.plate, x.state) for x in await sessions_of(db, lot)] == [(PLATE, "open")]
    # A rejected reading does not use up its sequence number: fixed, it is accepted.
    fixed = await s.post([s.reading(2, hours_ago(0.5), plate=PLATE, direction="out")])
    assert statuses(fixed.json()) == [(2, "accepted", None)]
    assert [x.state for x in await sessions_of(db, lot)] == ["unpaid"]

    # A gate whose object is not a known lot: its events are rejected, its counts still accepted.
    stray, stray_secret = await make_device("parking_gate", object_id="NO-SUCH-LOT")
    t = sender(stray, stray_secret)
    unlinked = await t.post([t.reading(1, at, plate=PLATE, direction="in"), t.reading(2, at, free_spaces=1)])
    assert statuses(unlinked.json()) == [(1, "rejected", "no_parking_lot"), (2, "accepted", None)]
    assert "NO-SUCH-LOT" in unlinked.json()["results"][0]["detail"]
    assert await stored_seqs(db, stray.id) == [2]
    assert (await db.scalar(select(ParkingGateEvent.id).where(ParkingGateEvent.device_id == str(stray.id)))) is None


async def test_another_device_type_at_a_lot_makes_no_gate_event(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession, redis: Any, statements: list[str]
) -> None:
    lot = await add_lot(db)
    # A plate-recognition camera watching the lot: it reports plates too, but it is not a gate.
    camera_type = f"plate_camera_{uuid.uuid4().hex[:6]}"
    db.add(
        DeviceType(
            code=camera_type,
            name="车牌识别相机",
            object_kinds=["parking_lot"],
            metrics={"plate": {"type": "string", "max_length": 16}, "direction": {"type": "string"}},
            default_interval_s=60,
        )
    )
    await db.flush()
    camera, camera_secret = await make_device(camera_type, object_id=lot.code)
    sensor, sensor_secret = await make_device("toilet_sensor", attrs={"toilet_class": 2})
    c, t = sender(camera, camera_secret), sender(sensor, sensor_secret)
    at = hours_ago(1)
    statements.clear()
    seen = await c.post([c.reading(1, at, plate=PLATE, direction="in"), c.reading(2, at, plate="misread")])
    counted = await t.post([t.reading(i, at + timedelta(seconds=i), free_stalls=i, nh3=0.1) for i in range(3)])
    # Their batches are ingested as before: every reading accepted, stored and live; no lot looked up.
    assert statuses(seen.json()) == [(1, "accepted", None), (2, "accepted", None)]
    assert statuses(counted.json()) == [(i, "accepted", None) for i in range(3)]
    assert await stored_seqs(db, camera.id) == [1, 2] and await stored_seqs(db, sensor.id) == [0, 1, 2]
    state = await live.get_state(redis, "parking_lot", lot.code)
    assert state is not None and state.values()["plate"] == "misread"
    assert statements and not [q for q in statements if "parking_" in q]
    assert await sessions_of(db, lot) == [] and await events_of(db, lot) == []

    # The same readings from the lot's gate are events.
    gate, gate_secret = await make_device("parking_gate", object_id=lot.code)
    g = sender(gate, gate_secret)
    assert statuses((await g.post([g.reading(1, at, plate=PLATE, direction="in")])).json()) == [(1, "accepted", None)]
    assert [(x.plate, x.state) for x in await sessions_of(db, lot)] == [(PLATE, "open")]
