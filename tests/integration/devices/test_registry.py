"""The device registry: devices, secrets (encrypted, rotated, revoked), reference data, rules, the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cli import main
from backend.devices import service
from backend.devices.credentials import decrypt_secret
from backend.devices.seed import DEMO_DEVICES, default_rules, device_types
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.models import AlarmRule, Device, DeviceType


async def test_reference_data_and_demo_devices_are_seeded(db: AsyncSession) -> None:
    types = {t.code: t for t in await service.list_device_types(db)}
    assert {t["code"] for t in device_types()} <= set(types)
    assert {
        "toilet_sensor",
        "parking_detector",
        "parking_gate",
        "manhole_tilt",
        "gas_leak_alarm",
        "smart_bin",
        "odour_monitor",
    } <= set(types)
    assert types["toilet_sensor"].metrics["nh3"]["unit"] == "mg/m³"
    codes = set((await db.scalars(select(AlarmRule.code))).all())
    assert {r["code"] for r in default_rules()} <= codes
    categories = dict((await db.execute(select(AlarmRule.code, AlarmRule.case_category_code))).all())
    assert categories["manhole.tilted"] == "E0701" and categories["gas.leak"] == "E0702"
    assert categories["bin.overflowing"] == "E0703" and categories["toilet.nh3"] == "E0704"
    demo = await service.get_device(db, DEMO_DEVICES[0].id)
    assert demo.code == DEMO_DEVICES[0].code and demo.status == "active"


async def test_a_device_is_registered_with_an_encrypted_secret(db: AsyncSession, settings: Any) -> None:
    issued = await service.add_device(
        db,
        settings.app.secret_key,
        code="REG-WC-1",
        name="公厕传感器",
        type_code="toilet_sensor",
        object_kind="toilet",
        object_id="WC-9",
        lat=30.84,
        lng=114.8,
        attrs={"toilet_class": 2},
    )
    device = issued.device
    assert device.interval_s == 60  # the type's default
    assert device.status == "active" and device.secret_version == 1 and not device.online
    assert issued.secret not in device.secret_enc
    assert decrypt_secret(settings.app.secret_key, device.secret_enc) == issued.secret
    assert (await service.get_device(db, "REG-WC-1")).id == device.id
    assert (await service.get_device(db, str(device.id))).code == "REG-WC-1"
    listed = await service.list_devices(db, type_code="toilet_sensor", object_id="WC-9")
    assert [d.id for d in listed] == [device.id]


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"type_code": "coffee_machine"}, NotFound, "device_type_not_found"),
        ({"object_kind": "parking_lot"}, ValidationFailed, "invalid_object_kind"),
        ({"lat": 30.0, "lng": None}, ValidationFailed, "invalid_location"),
        ({"lat": 95.0, "lng": 10.0}, ValidationFailed, "invalid_location"),
        ({"interval_s": 0}, ValidationFailed, "invalid_interval"),
        ({"code": "XZ-WC-0001-S1"}, Conflict, "device_code_taken"),  # a demo device's
    ],
)
async def test_a_bad_registration_is_refused(
    db: AsyncSession, settings: Any, changes: dict[str, Any], error: type[Exception], code: str
) -> None:
    args: dict[str, Any] = {
        "code": f"R-{uuid.uuid4().hex[:8]}",
        "name": "x",
        "type_code": "toilet_sensor",
        "object_kind": "toilet",
        "object_id": "WC-1",
        **changes,
    }
    with pytest.raises(error) as raised:
        await service.add_device(db, settings.app.secret_key, **args)
    assert raised.value.code == code  # type: ignore[attr-defined]


async def test_rotate_and_revoke(db: AsyncSession, settings: Any) -> None:
    issued = await service.add_device(
        db, settings.app.secret_key, code="ROT-1", name="x", type_code="smart_bin", object_kind="bin", object_id="B1"
    )
    issued.device.seq_hwm = 99
    rotated = await service.rotate_secret(db, settings.app.secret_key, "ROT-1")
    assert rotated.secret != issued.secret and rotated.device.secret_version == 2
    assert rotated.device.seq_hwm == -1 and rotated.device.secret_rotated_at is not None
    assert decrypt_secret(settings.app.secret_key, rotated.device.secret_enc) == rotated.secret
    revoked = await service.revoke_device(db, "ROT-1")
    assert revoked.status == "revoked" and revoked.revoked_at is not None
    assert (await service.revoke_device(db, "ROT-1")).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(Conflict):
        await service.rotate_secret(db, settings.app.secret_key, "ROT-1")
    with pytest.raises(NotFound):
        await service.revoke_device(db, "NO-SUCH-DEVICE")
    assert [d.code for d in await service.list_devices(db, status="revoked", type_code="smart_bin")] == ["ROT-1"]


async def test_alarm_rules_are_checked_when_saved(db: AsyncSession) -> None:
    rule = await service.add_rule(
        db,
        code="test.leachate",
        name="渗滤液液位高",
        device_type_code="odour_monitor",
        condition={"kind": "for_minutes", "metric": "leachate_level_cm", "op": ">", "value": 150, "minutes": 20},
        clear={"op": "<", "value": 120},
        schedule={"weekdays": [1, 2, 3, 4, 5], "start": "06:00", "end": "22:00"},
        severity="major",
    )
    assert rule.id in {r.id for r in await service.rules_for(db, "odour_monitor", "landfill")}
    assert rule.id not in {r.id for r in await service.rules_for(db, "smart_bin", "bin")}
    with pytest.raises(ValidationFailed) as bad:
        await service.add_rule(db, code="test.bad", name="x", condition={"kind": "threshold"}, severity="major")
    assert bad.value.code == "invalid_alarm_rule"
    with pytest.raises(ValidationFailed):
        await service.add_rule(
            db, code="test.bad2", name="x", condition={"kind": "no_data", "minutes": 5}, severity="apocalyptic"
        )
    with pytest.raises(Conflict):
        await service.add_rule(
            db, code="gas.leak", name="x", condition={"kind": "no_data", "minutes": 5}, severity="info"
        )


def test_cli_add_list_rotate_revoke(services: Any, settings: Any) -> None:
    code = f"CLI-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    try:
        added = runner.invoke(
            main,
            ["devices", "add", "--type", "toilet_sensor", "--code", code, "--object", "toilet:WC-CLI",
             "--lat", "30.84", "--lng", "114.80", "--attr", "toilet_class=1", "--interval", "120"],
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        lines = dict(line.split(":", 1) for line in added.stdout.splitlines() if ":" in line)
        device_id, secret = lines["device_id"].strip(), lines["secret"].strip()
        listed = runner.invoke(main, ["devices", "list", "--type", "toilet_sensor", "--json", "--limit", "500"])
        assert listed.exit_code == 0, listed.output
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        [row] = [r for r in rows if r["code"] == code]
        assert row == {
            "id": device_id,
            "code": code,
            "type": "toilet_sensor",
            "object": "toilet:WC-CLI",
            "status": "active",
            "online": False,
            "last_seen_at": None,
            "interval_s": 120,
            "firmware": None,
        }
        rotated = runner.invoke(main, ["devices", "rotate", code])
        assert rotated.exit_code == 0 and "version:   2" in rotated.stdout
        assert secret not in rotated.stdout
        revoked = runner.invoke(main, ["devices", "revoke", device_id])
        assert revoked.exit_code == 0 and f"revoked {code}" in revoked.stdout
        again = runner.invoke(main, ["devices", "rotate", code])
        assert again.exit_code != 0 and "device_revoked" in again.output
        wrong = runner.invoke(main, ["devices", "add", "--type", "toilet_sensor", "--code", "x", "--object", "WC"])
        assert wrong.exit_code != 0 and "KIND:ID" in wrong.output
    finally:
        asyncio.run(_remove(settings, code))


async def _remove(settings: Any, code: str) -> None:
    from backend.db import create_engine, create_session_factory, transaction

    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as s:
            await s.execute(delete(Device).where(Device.code == code))
            assert await s.get(DeviceType, "toilet_sensor") is not None
    finally:
        await engine.dispose()
