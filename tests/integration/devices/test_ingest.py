"""POST /ingest/v1/telemetry: signatures, per-reading results, dedupe, storage, live state, limits."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import live
from backend.devices import service
from backend.models import Device
from tests.integration.devices.conftest import PATH, MakeDevice, Sender, assert_error_body

SenderFor = Any


async def stored_seqs(db: AsyncSession, device_id: Any) -> list[int]:
    rows = await db.execute(text("SELECT seq FROM device_readings WHERE device_id = :d ORDER BY seq"), {"d": device_id})
    return [r[0] for r in rows]


async def test_a_signed_batch_is_stored_and_each_reading_gets_its_result(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession, redis: Any
) -> None:
    device, secret = await make_device("toilet_sensor", attrs={"toilet_class": 2})
    s: Sender = sender(device, secret)
    now = datetime.now(UTC)
    readings = [s.reading(i, now - timedelta(seconds=30 - i), free_stalls=5 - i, nh3=0.2) for i in range(5)]
    response = await s.post(readings, firmware="2.1.0")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 5 and body["duplicate"] == 0 and body["rejected"] == 0
    assert body["results"] == [{"seq": i, "status": "accepted"} for i in range(5)]
    assert await stored_seqs(db, device.id) == [0, 1, 2, 3, 4]
    metrics = (
        await db.execute(text("SELECT metrics FROM device_readings WHERE device_id = :d AND seq = 4"), {"d": device.id})
    ).scalar_one()
    assert metrics == {"free_stalls": 1, "nh3": 0.2}
    refreshed = await db.get(Device, device.id, populate_existing=True)
    assert refreshed is not None and refreshed.online and refreshed.firmware == "2.1.0"
    assert refreshed.last_seen_at is not None and refreshed.seq_hwm == 4
    # The newest values are live (written after the commit, before the response completed).
    state = await live.get_state(redis, device.object_kind, device.object_id)
    assert state is not None and not state.stale
    assert state.values() == {"free_stalls": 1, "nh3": 0.2}
    assert state.metrics["free_stalls"].device_id == str(device.id)


async def test_a_batch_sent_twice_is_stored_once(make_device: MakeDevice, sender: SenderFor, db: AsyncSession) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    readings = [s.reading(i, free_stalls=i) for i in range(10, 20)]
    first = await s.post(readings)
    again = await s.post(readings)  # the device lost the response and resends (a new nonce)
    assert first.json()["accepted"] == 10
    assert again.status_code == 200
    assert again.json()["accepted"] == 0 and again.json()["duplicate"] == 10
    assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    assert await stored_seqs(db, device.id) == list(range(10, 20))


async def test_out_of_order_sequence_numbers_are_accepted(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    assert (await s.post([s.reading(i, free_stalls=1) for i in (20, 21, 22)])).json()["accepted"] == 3
    late = await s.post([s.reading(i, free_stalls=1) for i in (15, 19, 16, 21, 16)])
    assert [r["status"] for r in late.json()["results"]] == [
        "accepted",
        "accepted",
        "accepted",
        "duplicate",
        "duplicate",
    ]
    assert await stored_seqs(db, device.id) == [15, 16, 19, 20, 21, 22]


async def test_readings_that_cannot_be_stored_are_rejected_with_a_reason(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device()
    other, _ = await make_device()
    s: Sender = sender(device, secret)
    now = datetime.now(UTC)
    readings = [
        s.reading(1, free_stalls=1),
        {**s.reading(2, free_stalls=1), "device_id": str(other.id)},
        s.reading(3, now - timedelta(days=400), free_stalls=1),
        s.reading(4, now + timedelta(hours=1), free_stalls=1),
        s.reading(5, nh3=-3),
        s.reading(6, smell="bad"),
        s.reading(7),
        s.reading(8, open=True),
    ]
    response = await s.post(readings)
    results = response.json()["results"]
    assert [(r["seq"], r["status"], r.get("reason")) for r in results] == [
        (1, "accepted", None),
        (2, "rejected", "device_mismatch"),
        (3, "rejected", "too_old"),
        (4, "rejected", "in_future"),
        (5, "rejected", "invalid_metrics"),
        (6, "rejected", "invalid_metrics"),
        (7, "rejected", "no_metrics"),
        (8, "accepted", None),
    ]
    assert "nh3" in results[4]["detail"] and "smell" in results[5]["detail"]
    assert response.json()["rejected"] == 6
    assert await stored_seqs(db, device.id) == [1, 8]
    # A rejected reading does not use up its sequence number: fixed, it is accepted.
    assert (await s.post([s.reading(5, nh3=3)])).json()["results"] == [{"seq": 5, "status": "accepted"}]


async def test_a_malformed_batch_is_400(make_device: MakeDevice, sender: SenderFor) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    assert_error_body(await s.post(body=b'{"readings": [{"device_id": '), 400, "malformed_body")
    bad = [{**s.reading(1, free_stalls=1), "seq": -1}]
    error = assert_error_body(await s.post(bad), 400, "validation_failed")
    assert error["details"][0]["key"] == "readings[0].seq"
    no_offset = [{**s.reading(1, free_stalls=1), "ts": "2026-11-21T10:00:00"}]
    assert_error_body(await s.post(no_offset), 400, "validation_failed")
    not_object = [{**s.reading(1), "metrics": [1, 2]}]
    assert_error_body(await s.post(not_object), 400, "validation_failed")
    assert_error_body(await s.post(body=b'{"readings": [], "extra": 1}'), 400, "validation_failed")
    assert_error_body(await s.post(body=b'{"readings": []}'), 400, "validation_failed")
    empty = await s.post(body=b"")
    assert empty.status_code == 400 and empty.json()["error"]["code"] in {"validation_failed", "malformed_body"}


# --- signatures ---------------------------------------------------------------------------------------


async def test_a_request_without_signature_headers_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PATH, json={"readings": [{"device_id": "x", "seq": 1, "ts": "2026-11-21T10:00:00Z", "metrics": {}}]}
    )
    assert_error_body(response, 401, "signature_missing")


async def test_a_wrong_signature_is_401(make_device: MakeDevice, sender: SenderFor) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    wrong_key = await s.post([s.reading(1, free_stalls=1)], secret=secret + "x")
    assert_error_body(wrong_key, 401, "signature_invalid")
    body = msgspec.json.encode({"readings": [s.reading(1, free_stalls=1)]})
    from backend.devices.signing import signed_headers

    headers = signed_headers(s.device_id, secret, "POST", PATH, body)
    tampered = await s.client.post(PATH, content=body.replace(b'"free_stalls":1', b'"free_stalls":9'), headers=headers)
    assert_error_body(tampered, 401, "signature_invalid")
    unknown = Sender(s.client, "01939a00-0000-7000-8000-00000000dead", secret)
    assert_error_body(await unknown.post([unknown.reading(1, free_stalls=1)]), 401, "signature_invalid")


async def test_a_timestamp_outside_the_skew_is_401(make_device: MakeDevice, sender: SenderFor) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    for offset in (-301, 301):
        response = await s.post([s.reading(1, free_stalls=1)], timestamp=int(time.time()) + offset)
        error = assert_error_body(response, 401, "timestamp_skew")
        assert abs(error["details"]["server_time"] - time.time()) < 5
    assert (await s.post([s.reading(1, free_stalls=1)], timestamp=int(time.time()) - 250)).status_code == 200


async def test_a_replayed_nonce_is_401(make_device: MakeDevice, sender: SenderFor) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    nonce = "replay-nonce-0123456789"
    assert (await s.post([s.reading(1, free_stalls=1)], nonce=nonce)).status_code == 200
    assert_error_body(await s.post([s.reading(2, free_stalls=1)], nonce=nonce), 401, "nonce_replayed")


async def test_a_revoked_device_is_403(make_device: MakeDevice, sender: SenderFor, db: AsyncSession) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    assert (await s.post([s.reading(1, free_stalls=1)])).status_code == 200  # its secret is now cached
    await service.revoke_device(db, device.id)
    assert_error_body(await s.post([s.reading(2, free_stalls=1)]), 403, "device_revoked")
    assert await stored_seqs(db, device.id) == [1]


async def test_a_rotated_secret_replaces_the_old_one_at_once(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession, settings: Any
) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    assert (await s.post([s.reading(1, free_stalls=1)])).status_code == 200
    issued = await service.rotate_secret(db, settings.app.secret_key, device.code)
    assert_error_body(await s.post([s.reading(2, free_stalls=1)]), 401, "signature_invalid")
    renewed = await s.post([s.reading(0, free_stalls=1)], secret=issued.secret)
    # A rotation restarts the sequence window (the device was re-provisioned).
    assert renewed.status_code == 200 and renewed.json()["accepted"] == 1


# --- limits ---------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413(make_device: MakeDevice, sender: SenderFor) -> None:
    from backend.devices.settings import get_ingest_settings

    device, secret = await make_device()
    s: Sender = sender(device, secret)
    big = b'{"readings": [' + b" " * get_ingest_settings().max_body_bytes + b"]}"
    assert_error_body(await s.post(body=big), 413, "payload_too_large")


async def test_a_device_over_its_rate_limit_is_429(make_device: MakeDevice, sender: SenderFor, asgi_app: Any) -> None:
    from device_ingest.startup import ingestor_of

    ingestor = ingestor_of(asgi_app.litestar.state)
    before = ingestor.settings
    ingestor.settings = replace(before, rate_per_min=3)
    try:
        device, secret = await make_device()
        other, other_secret = await make_device()
        s: Sender = sender(device, secret)
        minute = int(time.time()) // 60
        statuses = [(await s.post([s.reading(i, free_stalls=1)])).status_code for i in range(3)]
        limited = await s.post([s.reading(9, free_stalls=1)])
        if int(time.time()) // 60 != minute:  # the minute turned over meanwhile: the window restarted
            return
        assert statuses == [200, 200, 200]
        error = assert_error_body(limited, 429, "rate_limited")
        assert 0 < error["details"]["retry_after_s"] <= 60
        o: Sender = sender(other, other_secret)
        assert (await o.post([o.reading(1, free_stalls=1)])).status_code == 200  # per device
    finally:
        ingestor.settings = before


async def test_a_batch_larger_than_the_maximum_is_400(
    make_device: MakeDevice, sender: SenderFor, asgi_app: Any
) -> None:
    from device_ingest.startup import ingestor_of

    ingestor = ingestor_of(asgi_app.litestar.state)
    before = ingestor.settings
    ingestor.settings = replace(before, max_batch=2)
    try:
        device, secret = await make_device()
        s: Sender = sender(device, secret)
        response = await s.post([s.reading(i, free_stalls=1) for i in range(3)])
        assert_error_body(response, 400, "batch_too_large")
    finally:
        ingestor.settings = before


# --- live state -------------------------------------------------------------------------------------------


async def test_live_state_keeps_the_newest_value_of_each_metric(
    make_device: MakeDevice, sender: SenderFor, redis: Any
) -> None:
    occupancy, secret1 = await make_device("toilet_sensor", object_id="WC-LIVE-1")
    odour, secret2 = await make_device("odour_monitor", object_kind="toilet", object_id="WC-LIVE-1")
    a: Sender = sender(occupancy, secret1)
    b: Sender = sender(odour, secret2)
    now = datetime.now(UTC)
    await a.post([a.reading(2, now - timedelta(seconds=10), free_stalls=3)])
    await a.post([a.reading(1, now - timedelta(seconds=20), free_stalls=9)])  # older: does not roll back
    await b.post([b.reading(1, now - timedelta(seconds=5), nh3=0.7, h2s=0.002)])
    state = await live.get_state(redis, "toilet", "WC-LIVE-1")
    assert state is not None
    assert state.values() == {"free_stalls": 3, "nh3": 0.7, "h2s": 0.002}
    assert state.metrics["nh3"].device_id == str(odour.id)
    # Three reporting intervals later (toilet sensor: 60 s; odour monitor: 300 s) the occupancy is stale.
    later = await live.get_state(redis, "toilet", "WC-LIVE-1", now=now + timedelta(seconds=200))
    assert later is not None and later.metrics["free_stalls"].stale and not later.metrics["nh3"].stale
    assert later.live_values() == {"nh3": 0.7, "h2s": 0.002} and not later.stale
    gone = await live.get_state(redis, "toilet", "WC-LIVE-1", now=now + timedelta(hours=1))
    assert gone is not None and gone.stale
    many = await live.get_states(redis, "toilet", ["WC-LIVE-1", "WC-NOBODY"])
    assert many["WC-NOBODY"] is None and many["WC-LIVE-1"] is not None


async def test_a_batch_of_duplicates_only_marks_the_device_seen(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device()
    s: Sender = sender(device, secret)
    await s.post([s.reading(5, free_stalls=1)])
    first_seen = await db.scalar(select(Device.last_seen_at).where(Device.id == device.id))
    again = await s.post([s.reading(5, free_stalls=1)])
    assert again.json()["duplicate"] == 1
    hwm, seen = (await db.execute(select(Device.seq_hwm, Device.last_seen_at).where(Device.id == device.id))).one()
    assert hwm == 5 and first_seen is not None and seen is not None and seen > first_seen
    assert await stored_seqs(db, device.id) == [5]
