"""Reference data of the device domain — the device types and the default alarm rules, from
``data/*.json`` — and the demo city's devices.

Reference data is inserted when missing and never overwritten, so an administrator's edits to a
type or a rule survive every start-up. Demo devices have secrets derived from SECRET_KEY (so the
test suite and the fuzzer can sign as them, and a real deployment's demo secrets are not public).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.credentials import encrypt_secret
from backend.devices.metrics import check_schema
from backend.devices.rules import parse_rule
from backend.models import AlarmRule, Device, DeviceType, new_id

DATA = Path(__file__).resolve().parent / "data"


def device_types() -> list[dict[str, Any]]:
    types: list[dict[str, Any]] = json.loads((DATA / "device_types.json").read_text(encoding="utf-8"))
    for t in types:
        check_schema(t["metrics"])
    return types


def default_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = json.loads((DATA / "alarm_rules.json").read_text(encoding="utf-8"))
    for r in rules:
        parse_rule(r["code"], r["condition"], r.get("clear"), r.get("schedule"))
    return rules


async def seed_reference_data(session: AsyncSession) -> int:
    """Insert the device types and default alarm rules that are missing; returns how many."""
    added = 0
    for t in device_types():
        stmt = insert(DeviceType).values(**t).on_conflict_do_nothing(index_elements=["code"]).returning(DeviceType.code)
        added += (await session.execute(stmt)).scalar_one_or_none() is not None
    for r in default_rules():
        values = {
            "id": new_id(),
            "code": r["code"],
            "name": r["name"],
            "device_type_code": r.get("device_type_code"),
            "object_kind": r.get("object_kind"),
            "condition": r["condition"],
            "clear": r.get("clear"),
            "severity": r["severity"],
            "schedule": r.get("schedule"),
            "case_category_code": r.get("case_category_code"),
        }
        stmt = (
            insert(AlarmRule).values(**values).on_conflict_do_nothing(index_elements=["code"]).returning(AlarmRule.id)
        )
        added += (await session.execute(stmt)).scalar_one_or_none() is not None
    return added


@dataclass(frozen=True)
class DemoDevice:
    id: uuid.UUID
    code: str
    name: str
    type_code: str
    object_kind: str
    object_id: str
    lat: float
    lng: float
    attrs: dict[str, Any]


# Fixed ids, so tools (the fuzzer, a bench, a demo script) can address them.
DEMO_DEVICES: list[DemoDevice] = [
    DemoDevice(uuid.UUID("01939a00-0000-7000-8000-000000000001"), "XZ-WC-0001-S1", "邾城公厕1号 传感器",
               "toilet_sensor", "toilet", "XZ-WC-0001", 30.8421, 114.8012, {"toilet_class": 1}),
    DemoDevice(uuid.UUID("01939a00-0000-7000-8000-000000000002"), "XZ-MH-0001", "邾城大道井盖倾斜传感器",
               "manhole_tilt", "manhole", "0101420117001001", 30.8405, 114.8031, {}),
    DemoDevice(uuid.UUID("01939a00-0000-7000-8000-000000000003"), "XZ-GAS-0001", "新洲燃气加气站泄漏报警器",
               "gas_leak_alarm", "gas_station", "XZ-GS-001", 30.8388, 114.7990, {}),
    DemoDevice(uuid.UUID("01939a00-0000-7000-8000-000000000004"), "XZ-BIN-0001", "齐安大道智能垃圾桶",
               "smart_bin", "bin", "XZ-BIN-0001", 30.8447, 114.8056, {}),
    DemoDevice(uuid.UUID("01939a00-0000-7000-8000-000000000005"), "XZ-PK-0001-G1", "问津广场停车场道闸",
               "parking_gate", "parking_lot", "XZ-PL-0001", 30.8430, 114.7975, {}),
]  # fmt: skip


def demo_secret(secret_key: str, code: str) -> str:
    """The demo device's secret, derived from SECRET_KEY."""
    digest = hmac.new(secret_key.encode(), f"chengguan/demo-device/{code}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def seed_demo_devices(session: AsyncSession, secret_key: str | None = None) -> int:
    """The demo city's devices (idempotent); returns how many were added."""
    if secret_key is None:
        from backend.settings import get_settings

        secret_key = get_settings().app.secret_key
    await seed_reference_data(session)
    added = 0
    for d in DEMO_DEVICES:
        if await session.scalar(select(Device.id).where(Device.id == d.id)) is not None:
            continue
        device_type = await session.get(DeviceType, d.type_code)
        assert device_type is not None
        session.add(
            Device(
                id=d.id,
                code=d.code,
                name=d.name,
                type_code=d.type_code,
                object_kind=d.object_kind,
                object_id=d.object_id,
                lat=d.lat,
                lng=d.lng,
                attrs=d.attrs,
                interval_s=device_type.default_interval_s,
                secret_enc=encrypt_secret(secret_key, demo_secret(secret_key, d.code)),
                secret_version=1,
                status="active",
                seq_hwm=-1,
                seq_window=b"",
                rule_state={},
                online=False,
            )
        )
        added += 1
    await session.flush()
    return added
