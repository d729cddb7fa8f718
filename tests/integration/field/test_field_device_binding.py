"""Device binding (设备绑定): the first device binds, others are refused until an administrator unbinds —
by the service or by `chengguan staff unbind-device` — and the old device's tokens stop working."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from click.testing import CliRunner
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.cli import main
from backend.db import create_session_factory, transaction
from backend.models import Staff, StaffDevice
from backend.org.service import bind_device, unbind_device
from tests.integration.field.field_support import LOGIN, sign_in

REFRESH = "/api/field/v1/auth/refresh"
TASKS = "/api/field/v1/tasks"


def _login(username: str, device_id: str | None, password: str = "Demo@2026") -> dict[str, Any]:
    body: dict[str, Any] = {"username": username, "password": password}
    if device_id is not None:
        body["device_id"] = device_id
    return body


async def test_first_device_binds_and_another_is_refused(client: httpx.AsyncClient, db: Any) -> None:
    first = await client.post(LOGIN, json=_login("collector1", "phone-A"))
    assert first.status_code == 200, first.text
    again = await client.post(LOGIN, json=_login("collector1", "phone-A"))
    assert again.status_code == 200
    other = await client.post(LOGIN, json=_login("collector1", "phone-B"))
    assert other.status_code == 403 and other.json()["error"]["code"] == "device_not_bound"
    no_device = await client.post(LOGIN, json=_login("collector1", None))
    assert no_device.status_code == 403 and no_device.json()["error"]["code"] == "device_not_bound"
    bound = await db.scalar(
        select(StaffDevice.device_id)
        .join(Staff, Staff.id == StaffDevice.staff_id)
        .where(Staff.username == "collector1")
    )
    assert bound == "phone-A"


async def test_wrong_password_from_another_device_says_nothing_about_the_binding(client: httpx.AsyncClient) -> None:
    assert (await client.post(LOGIN, json=_login("handler1", "pad-1"))).status_code == 200
    wrong = await client.post(LOGIN, json=_login("handler1", "pad-2", password="nope"))
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"


async def test_lockout_comes_before_the_device_check(client: httpx.AsyncClient) -> None:
    assert (await client.post(LOGIN, json=_login("officer1", "pad-1"))).status_code == 200
    for _ in range(5):
        await client.post(LOGIN, json=_login("officer1", "pad-1", password="bad"))
    locked = await client.post(LOGIN, json=_login("officer1", "pad-2"))
    assert locked.status_code == 401 and locked.json()["error"]["code"] == "account_locked"


async def test_unbinding_lets_a_new_device_in_and_shuts_the_old_one_out(client: httpx.AsyncClient, db: Any) -> None:
    old = (await client.post(LOGIN, json=_login("collector1", "phone-old"))).json()
    old_headers = {"Authorization": f"Bearer {old['access_token']}"}
    assert (await client.get(TASKS, headers=old_headers)).status_code == 200

    assert await unbind_device(db, "collector1") == "phone-old"
    assert await unbind_device(db, "collector1") is None  # nothing left to unbind

    new = await client.post(LOGIN, json=_login("collector1", "phone-new"))
    assert new.status_code == 200, new.text
    # The old phone's tokens are refused at their next use: access on a field endpoint, and refresh.
    stale = await client.get(TASKS, headers=old_headers)
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "device_not_bound"
    refresh = await client.post(REFRESH, json={"refresh_token": old["refresh_token"]})
    assert refresh.status_code == 403 and refresh.json()["error"]["code"] == "device_not_bound"
    fresh = await client.post(REFRESH, json={"refresh_token": new.json()["refresh_token"]})
    assert fresh.status_code == 200


async def test_staff_without_a_binding_sign_in_as_before(client: httpx.AsyncClient) -> None:
    headers = await sign_in(client, "lead1")
    assert (await client.get("/api/field/v1/me", headers=headers)).status_code == 200


async def test_cli_unbinds_a_device(engine: AsyncEngine, seeded: bool) -> None:
    factory = create_session_factory(engine)
    async with transaction(factory) as session:
        member = await session.scalar(select(Staff).where(Staff.username == "auditor1"))
        assert member is not None
        staff_id = member.id
        await bind_device(session, staff_id, "cli-pad")
    try:
        runner = CliRunner()
        result = await asyncio.to_thread(runner.invoke, main, ["staff", "unbind-device", "auditor1"])
        assert result.exit_code == 0, result.output
        assert "unbound device cli-pad from auditor1" in result.output
        async with transaction(factory) as session:
            assert await session.get(StaffDevice, staff_id) is None
        again = await asyncio.to_thread(runner.invoke, main, ["staff", "unbind-device", "auditor1"])
        assert again.exit_code == 0 and "had no bound device" in again.output
        unknown = await asyncio.to_thread(runner.invoke, main, ["staff", "unbind-device", "nobody"])
        assert unknown.exit_code != 0 and "staff_not_found" in unknown.output
    finally:
        async with transaction(factory) as session:
            await session.execute(delete(StaffDevice).where(StaffDevice.staff_id == staff_id))
