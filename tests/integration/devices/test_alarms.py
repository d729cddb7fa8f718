"""Alarms from readings: each condition with its clear condition, one active alarm per device and
rule under races, the outbox messages that open cases, staff actions, and silent devices."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.db import create_session_factory
from backend.devices import alarms
from backend.devices.enums import AlarmState
from backend.devices.rules import AlarmEvent
from backend.errors import InvalidTransition, NotFound
from backend.models import Alarm, AlarmRule, Device, OutboxMessage, Staff
from tests.integration.devices.conftest import MakeDevice, Sender

SenderFor = Any


async def rule_id(db: AsyncSession, code: str) -> uuid.UUID:
    found = await db.scalar(select(AlarmRule.id).where(AlarmRule.code == code))
    assert found is not None, f"seeded rule {code} missing"
    return found


async def alarms_of(db: AsyncSession, device_id: uuid.UUID, code: str | None = None) -> list[Alarm]:
    stmt = select(Alarm).where(Alarm.device_id == device_id).order_by(Alarm.raised_at)
    if code is not None:
        stmt = stmt.where(Alarm.rule_id == await rule_id(db, code))
    return list((await db.scalars(stmt.execution_options(populate_existing=True))).all())


async def outbox(db: AsyncSession, topic: str, alarm_id: uuid.UUID) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(
        OutboxMessage.topic == topic, OutboxMessage.payload["alarm_id"].astext == str(alarm_id)
    )
    return list((await db.scalars(stmt)).all())


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


async def test_threshold_raises_repeats_and_clears_with_hysteresis(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device("gas_leak_alarm", lat=30.8388, lng=114.799)
    s: Sender = sender(device, secret)
    await s.post(
        [
            s.reading(1, minutes_ago(6), lel_pct=5),
            s.reading(2, minutes_ago(5), lel_pct=25),
            s.reading(3, minutes_ago(4), lel_pct=30),
        ]
    )
    [alarm] = await alarms_of(db, device.id, "gas.leak")
    assert alarm.state == AlarmState.ACTIVE_UNACKNOWLEDGED
    assert (alarm.count, alarm.first_value, alarm.last_value, alarm.severity) == (2, 25.0, 30.0, "critical")
    [raised] = await outbox(db, "alarm.raised", alarm.id)
    assert raised.dedup_key == f"alarm.raised:{alarm.id}"
    assert raised.payload == {
        "alarm_id": str(alarm.id),
        "device_id": str(device.id),
        "device_code": device.code,
        "rule_id": str(alarm.rule_id),
        "rule_code": "gas.leak",
        "category_code": "E0702",
        "severity": "critical",
        "object_kind": "gas_station",
        "object_id": device.object_id,
        "lat": 30.8388,
        "lng": 114.799,
        "coord": "wgs84",
        "metric": "lel_pct",
        "first_value": 25.0,
        "raised_at": alarm.raised_at.isoformat(),
    }
    # Between the clear (< 10) and the trigger (≥ 20) level nothing happens; three readings below 10 clear.
    await s.post(
        [
            s.reading(4, minutes_ago(3), lel_pct=15),
            s.reading(5, minutes_ago(2.5), lel_pct=8),
            s.reading(6, minutes_ago(2), lel_pct=9),
        ]
    )
    [alarm] = await alarms_of(db, device.id, "gas.leak")
    assert alarm.state == AlarmState.ACTIVE_UNACKNOWLEDGED
    await s.post([s.reading(7, minutes_ago(1), lel_pct=7)])
    [alarm] = await alarms_of(db, device.id, "gas.leak")
    assert alarm.state == AlarmState.CLEARED and alarm.clear_value == 7.0 and alarm.cleared_by is None
    [cleared] = await outbox(db, "alarm.cleared", alarm.id)
    assert cleared.dedup_key == f"alarm.cleared:{alarm.id}"
    assert cleared.payload == {
        "alarm_id": str(alarm.id),
        "device_id": str(device.id),
        "rule_id": str(alarm.rule_id),
        "category_code": "E0702",
        "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
        "clear_value": 7.0,
        "cleared_by": None,
        "note": None,
    }
    # The problem returns: a new alarm (and a new message).
    await s.post([s.reading(8, minutes_ago(0.5), lel_pct=50)])
    alarms_now = await alarms_of(db, device.id, "gas.leak")
    assert [a.state for a in alarms_now] == [AlarmState.CLEARED, AlarmState.ACTIVE_UNACKNOWLEDGED]
    assert len(await outbox(db, "alarm.raised", alarms_now[1].id)) == 1


async def test_for_minutes_raises_after_the_condition_held_that_long(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device("smart_bin")
    s: Sender = sender(device, secret)
    await s.post([s.reading(i, minutes_ago(50 - 10 * i), fill_pct=96 + i) for i in range(3)])  # 50, 40, 30 min ago
    assert await alarms_of(db, device.id, "bin.overflowing") == []  # held 20 minutes so far
    await s.post([s.reading(3, minutes_ago(20), fill_pct=99)])  # now 30 minutes
    [alarm] = await alarms_of(db, device.id, "bin.overflowing")
    assert alarm.state == AlarmState.ACTIVE_UNACKNOWLEDGED and alarm.category_code == "E0703"
    assert abs((alarm.raised_at - minutes_ago(20)).total_seconds()) < 5  # at the reading that made 30 minutes
    await s.post([s.reading(4, minutes_ago(10), fill_pct=60), s.reading(5, minutes_ago(5), fill_pct=30)])
    [alarm] = await alarms_of(db, device.id, "bin.overflowing")
    assert alarm.state == AlarmState.CLEARED and alarm.clear_value == 30.0
    assert len(await outbox(db, "alarm.cleared", alarm.id)) == 1


async def test_times_in_row_needs_consecutive_readings(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device("manhole_tilt")
    s: Sender = sender(device, secret)
    await s.post(
        [
            s.reading(1, minutes_ago(10), tilt_deg=12),
            s.reading(2, minutes_ago(9), tilt_deg=3),
            s.reading(3, minutes_ago(8), tilt_deg=14),
        ]
    )
    assert await alarms_of(db, device.id, "manhole.tilted") == []
    await s.post([s.reading(4, minutes_ago(7), tilt_deg=15)])
    [alarm] = await alarms_of(db, device.id, "manhole.tilted")
    assert (alarm.state, alarm.first_value, alarm.category_code) == (AlarmState.ACTIVE_UNACKNOWLEDGED, 15.0, "E0701")
    [raised] = await outbox(db, "alarm.raised", alarm.id)
    assert raised.payload["object_kind"] == "manhole" and raised.payload["lat"] == device.lat
    await s.post([s.reading(5, minutes_ago(6), tilt_deg=4)])
    assert (await alarms_of(db, device.id, "manhole.tilted"))[0].state != AlarmState.CLEARED  # clear needs two
    await s.post([s.reading(6, minutes_ago(5), tilt_deg=2)])
    assert (await alarms_of(db, device.id, "manhole.tilted"))[0].state == AlarmState.CLEARED


async def test_toilet_odour_threshold_follows_the_toilet_class(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    class_one, secret1 = await make_device("toilet_sensor", attrs={"toilet_class": 1})
    class_three, secret3 = await make_device("toilet_sensor", attrs={"toilet_class": 3})
    for device, secret in ((class_one, secret1), (class_three, secret3)):
        s: Sender = sender(device, secret)
        await s.post([s.reading(i, minutes_ago(15 - 5 * i), nh3=0.8) for i in range(4)])  # 0.8 mg/m³ for 15 min
    [alarm] = await alarms_of(db, class_one.id, "toilet.nh3")  # over 一类's 0.3
    assert alarm.category_code == "E0704" and alarm.metric == "nh3"
    assert await alarms_of(db, class_three.id, "toilet.nh3") == []  # under 三类's 3


async def test_a_rule_without_a_category_publishes_nothing(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device("parking_detector")
    s: Sender = sender(device, secret)
    await s.post([s.reading(i, minutes_ago(5 - i), battery_pct=10) for i in range(3)])
    [alarm] = await alarms_of(db, device.id, "device.battery_low")
    assert alarm.severity == "info" and alarm.category_code is None
    assert await outbox(db, "alarm.raised", alarm.id) == []


async def test_a_silent_device_raises_its_offline_alarm_and_data_clears_it(
    make_device: MakeDevice, sender: SenderFor, db: AsyncSession
) -> None:
    device, secret = await make_device("toilet_sensor", interval_s=60)
    s: Sender = sender(device, secret)
    await s.post([s.reading(1, minutes_ago(1), free_stalls=2)])
    now = datetime.now(UTC)
    await alarms.sweep_silence(db, now + timedelta(seconds=170))  # 2m50s silent: under three intervals
    assert await alarms_of(db, device.id, "device.offline") == []
    raised = await alarms.sweep_silence(db, now + timedelta(seconds=200))
    [alarm] = await alarms_of(db, device.id, "device.offline")
    assert alarm.id in raised and alarm.state == AlarmState.ACTIVE_UNACKNOWLEDGED and alarm.severity == "minor"
    refreshed = await db.get(Device, device.id, populate_existing=True)
    assert refreshed is not None and not refreshed.online
    assert alarm.id not in await alarms.sweep_silence(db, now + timedelta(seconds=400))  # raised once
    await s.post([s.reading(2, free_stalls=2)])
    [alarm] = await alarms_of(db, device.id, "device.offline")
    assert alarm.state == AlarmState.CLEARED
    refreshed = await db.get(Device, device.id, populate_existing=True)
    assert refreshed is not None and refreshed.online


async def test_a_device_that_never_reported_goes_offline_too(make_device: MakeDevice, db: AsyncSession) -> None:
    device, _ = await make_device("manhole_tilt", interval_s=600)
    await alarms.sweep_silence(db, datetime.now(UTC) + timedelta(minutes=31))
    [alarm] = await alarms_of(db, device.id, "device.offline")
    assert alarm.first_value is not None and alarm.first_value >= 1800  # seconds silent


# --- staff actions ------------------------------------------------------------------------------------


async def staff_id(db: AsyncSession, username: str = "lead1") -> uuid.UUID:
    found = await db.scalar(select(Staff.id).where(Staff.username == username))
    assert found is not None
    return found


async def test_acknowledge_then_clear_by_hand(make_device: MakeDevice, sender: SenderFor, db: AsyncSession) -> None:
    device, secret = await make_device("gas_leak_alarm")
    s: Sender = sender(device, secret)
    await s.post([s.reading(1, minutes_ago(3), lel_pct=40)])
    [alarm] = await alarms_of(db, device.id, "gas.leak")
    lead = await staff_id(db)
    acked = await alarms.acknowledge(db, alarm.id, lead)
    assert acked.state == AlarmState.ACTIVE_ACKNOWLEDGED and acked.acknowledged_by == lead and acked.acknowledged_at
    with pytest.raises(InvalidTransition):
        await alarms.acknowledge(db, alarm.id, lead)
    # Still over the threshold: a repeat updates the acknowledged alarm, it stays acknowledged.
    await s.post([s.reading(2, minutes_ago(2), lel_pct=45)])
    [alarm] = await alarms_of(db, device.id, "gas.leak")
    assert alarm.state == AlarmState.ACTIVE_ACKNOWLEDGED and alarm.count == 2 and alarm.last_value == 45.0
    cleared = await alarms.clear(db, alarm.id, lead, note="现场关阀，复测正常")
    assert cleared.state == AlarmState.CLEARED and cleared.cleared_by == lead
    [message] = await outbox(db, "alarm.cleared", alarm.id)
    assert message.payload["cleared_by"] == str(lead) and message.payload["note"] == "现场关阀，复测正常"
    with pytest.raises(InvalidTransition):
        await alarms.clear(db, alarm.id, lead)
    with pytest.raises(NotFound):
        await alarms.acknowledge(db, uuid.uuid4(), lead)
    # The rule starts afresh: the condition still holding raises a new alarm.
    await s.post([s.reading(3, minutes_ago(1), lel_pct=45)])
    states = [a.state for a in await alarms_of(db, device.id, "gas.leak")]
    assert states == [AlarmState.CLEARED, AlarmState.ACTIVE_UNACKNOWLEDGED]
    assert [a.id for a in await alarms.list_alarms(db, active=True, device_id=device.id)] == [
        (await alarms_of(db, device.id, "gas.leak"))[1].id
    ]


async def test_clear_an_unacknowledged_alarm(make_device: MakeDevice, sender: SenderFor, db: AsyncSession) -> None:
    device, secret = await make_device("manhole_tilt")
    s: Sender = sender(device, secret)
    await s.post([s.reading(1, minutes_ago(2), opened=True)])
    [alarm] = await alarms_of(db, device.id, "manhole.opened")
    cleared = await alarms.clear(db, alarm.id, await staff_id(db))
    assert cleared.state == AlarmState.CLEARED and cleared.acknowledged_at is None


# --- races ----------------------------------------------------------------------------------------------


async def test_two_racing_batches_raise_one_alarm(
    committed_device: MakeDevice, live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    device, secret = await committed_device("gas_leak_alarm")
    a = Sender(live_client, str(device.id), secret)
    b = Sender(live_client, str(device.id), secret)
    first, second = await asyncio.gather(
        a.post([a.reading(i, minutes_ago(10 - i * 0.1), lel_pct=30) for i in range(1, 6)]),
        b.post([b.reading(i, minutes_ago(10 - i * 0.1), lel_pct=40) for i in range(6, 11)]),
    )
    assert first.status_code == second.status_code == 200
    async with create_session_factory(engine)() as s:
        rows = (await s.scalars(select(Alarm).where(Alarm.device_id == device.id))).all()
        assert len(rows) == 1 and rows[0].count == 10
        messages = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.payload["alarm_id"].astext == str(rows[0].id)))
        ).all()
        assert [m.topic for m in messages] == ["alarm.raised"]


async def test_the_database_keeps_one_active_alarm_per_device_and_rule(
    committed_device: MakeDevice, engine: AsyncEngine
) -> None:
    """Two transactions raising the same alarm at once, without the device lock ingest takes:
    the partial unique index makes the second wait and turn into a repeat."""
    device, _ = await committed_device("gas_leak_alarm")
    factory = create_session_factory(engine)
    async with factory() as s:
        rule = (await s.scalars(select(AlarmRule).where(AlarmRule.code == "gas.leak"))).one()
        ref = alarms.rule_ref(rule)
    dev = alarms.DeviceRef(device.id, device.code, device.object_kind, device.object_id, device.lat, device.lng)
    now = datetime.now(UTC)
    one, two = factory(), factory()
    try:
        first = await alarms.raise_or_repeat(
            one, dev, ref, first=AlarmEvent("raise", now, 30), last=AlarmEvent("raise", now, 30), count=1
        )
        racing = asyncio.create_task(
            alarms.raise_or_repeat(
                two, dev, ref, first=AlarmEvent("raise", now, 40), last=AlarmEvent("raise", now, 40), count=1
            )
        )
        await asyncio.sleep(0.3)
        assert not racing.done(), "the second insert waits on the unique index"
        await one.commit()
        second = await racing
        await two.commit()
    finally:
        await one.close()
        await two.close()
    assert first[1] is True and second[1] is False and first[0] == second[0]
    async with factory() as s:
        rows = (await s.scalars(select(Alarm).where(Alarm.device_id == device.id))).all()
        assert len(rows) == 1 and rows[0].count == 2 and rows[0].last_value == 40
        raised = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.payload["alarm_id"].astext == str(rows[0].id)))
        ).all()
        assert len(raised) == 1
