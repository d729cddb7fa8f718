"""Every console page renders for the roles it is meant for; alarms are acknowledged and cleared from
the console; regions are imported from GeoJSON; every such write leaves its audit entry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.models import Alarm, AlarmRule, AuditLog, Community, Device, new_id
from tests.integration.admin.conftest import SignIn

MODEL_VIEWS = ["category", "dispatch-rule-row", "notice", "district", "street", "community", "grid", "department",
               "staff", "toilet", "parking-lot", "device", "alarm-rule", "alarm", "audit-log",
               "outbox-message"]  # fmt: skip
CREATABLE = ["category", "dispatch-rule-row", "notice", "street", "community", "department", "staff", "toilet",
             "parking-lot", "device", "alarm-rule"]  # fmt: skip


async def test_every_page_renders_for_an_administrator(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    await sign_in("admin")
    for identity in MODEL_VIEWS:
        listing = await client.get(f"/admin/{identity}/list")
        assert listing.status_code == 200, identity
        assert "Internal Server Error" not in listing.text
        first = re.search(rf'href="http://testserver/admin/{identity}/details/([^"]+)"', listing.text)
        if first:
            details = await client.get(f"/admin/{identity}/details/{first.group(1)}")
            assert details.status_code == 200, identity
            assert "$argon2" not in details.text and "secret_enc" not in details.text
    for identity in CREATABLE:
        form = await client.get(f"/admin/{identity}/create")
        assert form.status_code == 200, identity
        assert 'name="csrf_token"' in form.text and "保存" in form.text, identity
    for path in ("/admin/", "/admin/cases", "/admin/geo-import", "/admin/evaluation"):
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    ("username", "readable", "closed"),
    [
        ("seat1", ["category", "alarm", "toilet"], ["audit-log", "outbox-message"]),
        ("dispatcher1", ["dispatch-rule-row", "department"], ["audit-log"]),
        ("auditor1", ["audit-log", "outbox-message", "staff"], []),
    ],
)
async def test_read_only_roles_see_lists_without_write_buttons(
    client: httpx.AsyncClient, sign_in: SignIn, username: str, readable: list[str], closed: list[str]
) -> None:
    await sign_in(username)
    for identity in readable:
        listing = await client.get(f"/admin/{identity}/list")
        assert listing.status_code == 200, identity
        assert f"/admin/{identity}/create" not in listing.text and f"/admin/{identity}/edit/" not in listing.text
        assert (await client.get(f"/admin/{identity}/create")).status_code in {403}, identity
    for identity in closed:
        assert (await client.get(f"/admin/{identity}/list")).status_code == 403, identity


async def _alarm(db: Any) -> Alarm:
    device = await db.scalar(select(Device).order_by(Device.code).limit(1))
    rule = await db.scalar(select(AlarmRule).order_by(AlarmRule.code).limit(1))
    now = datetime.now(UTC)
    alarm = Alarm(id=new_id(), device_id=device.id, rule_id=rule.id, state="active_unacknowledged",
                  severity="major", object_kind=device.object_kind, object_id=device.object_id, metric="tilt_deg",
                  first_value=12, last_value=15, count=2, raised_at=now, last_at=now)  # fmt: skip
    db.add(alarm)
    await db.flush()
    return alarm


async def test_alarms_are_acknowledged_and_cleared_by_the_right_roles(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    alarm = await _alarm(db)
    seat = await sign_in("seat1")
    home = await client.get("/admin/")
    assert "设备告警（未解除）" in home.text and "重要 1" in home.text
    listing = await client.get("/admin/alarm/list")
    assert f"/admin/alarm-actions/{alarm.id}/acknowledge" in listing.text
    assert f"/admin/alarm-actions/{alarm.id}/clear" not in listing.text, "seats acknowledge, shift leads clear"
    done = await client.post(f"/admin/alarm-actions/{alarm.id}/acknowledge", data={"csrf_token": seat})
    assert done.status_code == 303
    refused = await client.post(f"/admin/alarm-actions/{alarm.id}/clear", data={"csrf_token": seat})
    assert refused.status_code == 403
    await db.refresh(alarm)
    assert alarm.state == "active_acknowledged" and alarm.acknowledged_by is not None

    lead = await sign_in("lead1")
    cleared = await client.post(f"/admin/alarm-actions/{alarm.id}/clear", data={"csrf_token": lead})
    assert cleared.status_code == 303
    await db.refresh(alarm)
    assert alarm.state == "cleared" and alarm.clear_note == "控制台手动解除"
    trail = (await db.scalars(select(AuditLog).where(AuditLog.view == "alarm", AuditLog.object_id == str(alarm.id))
                              .order_by(AuditLog.at))).all()  # fmt: skip
    assert [(e.action, e.username, e.before, e.after) for e in trail] == [
        ("acknowledge", "seat1", {"state": "active_unacknowledged"}, {"state": "active_acknowledged"}),
        ("clear", "lead1", {"state": "active_acknowledged"}, {"state": "cleared"}),
    ]


async def test_regions_are_imported_from_geojson_all_or_nothing(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    token = await sign_in("admin")
    community = await db.scalar(select(Community).order_by(Community.code).limit(1))
    renamed = {"level": "community", "code": community.code, "name": "更名后的社区",
               "parent_code": community.street_code}  # fmt: skip
    good = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": renamed}]}
    broken = {"type": "Feature", "geometry": None, "properties": {"level": "grid", "code": "1"}}
    bad = {"type": "FeatureCollection", "features": [good["features"][0], broken]}
    files = {"file": ("bad.geojson", json.dumps(bad).encode(), "application/geo+json")}
    refused = await client.post("/admin/geo-import", data={"csrf_token": token}, files=files)
    assert (
        refused.status_code == 400
        and "未导入任何内容" in refused.text
        and "grid code must be 15 digits" in refused.text
    )
    await db.refresh(community)
    assert community.name != "更名后的社区"
    files = {"file": ("good.geojson", json.dumps(good).encode(), "application/geo+json")}
    done = await client.post("/admin/geo-import", data={"csrf_token": token}, files=files)
    assert done.status_code == 303
    await db.refresh(community)
    assert community.name == "更名后的社区"
    entry = await db.scalar(select(AuditLog).where(AuditLog.view == "geo"))
    assert entry.action == "import" and entry.after == {"file": "good.geojson", "district": 0, "street": 0,
                                                         "community": 1, "grid": 0}  # fmt: skip
    seat = await sign_in("seat1")
    files = {"file": ("good.geojson", json.dumps(good).encode(), "application/geo+json")}
    assert (await client.post("/admin/geo-import", data={"csrf_token": seat}, files=files)).status_code == 403


async def test_a_new_device_gets_its_secret_shown_once(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("admin")
    device = await db.scalar(select(Device).order_by(Device.code).limit(1))
    data = {"csrf_token": token, "code": "E2E-TILT-001", "name": "测试井盖倾角", "type_code": device.type_code,
            "object_kind": device.object_kind, "object_id": "manhole-e2e-1", "lat": "30.84", "lng": "114.80",
            "interval_s": "", "firmware": "", "save": "Save"}  # fmt: skip
    created = await client.post("/admin/device/create", data=data)
    problems = re.findall(r"(?:invalid-feedback|alert-danger)[^>]*>\s*([^<]+)", created.text)
    assert created.status_code == 200, problems
    assert created.status_code == 200 and "设备密钥" in created.text and "复制" in created.text
    assert created.headers["cache-control"].startswith("no-store")
    stored = await db.scalar(select(Device).where(Device.code == "E2E-TILT-001"))
    secret = re.search(r'id="modal-secret-value"', created.text)
    assert stored is not None and secret and stored.secret_enc not in created.text
    entry = await db.scalar(select(AuditLog).where(AuditLog.view == "device", AuditLog.object_id == str(stored.id)))
    assert entry.action == "create" and entry.after["secret_enc"] == "***"
    revoked = await client.post(f"/admin/device-actions/{stored.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    await db.refresh(stored)
    assert stored.status == "revoked"
