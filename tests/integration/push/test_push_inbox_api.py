"""The field app's inbox over HTTP: list (cursor-paginated), unread count, read marks (only one's own),
preferences."""

from __future__ import annotations

from typing import Any

import httpx
from push_support import run_outbox
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from push import Recipient, events, notify

INBOX = "/api/field/v1/inbox"


async def _login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/field/v1/auth/login", json={"username": username, "password": "Demo@2026"})
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def _tasks(db: AsyncSession, factory: async_sessionmaker[AsyncSession], staff_id: Any, n: int, key: str) -> None:
    for i in range(n):
        data = {"case_no": f"XZ2026112100{i:04d}", "summary": f"任务{i}"}
        await notify(db, events.TASK_ASSIGNED, [Recipient.staff(staff_id)], data, f"{key}:{i}")
    await db.commit()
    await run_outbox(factory)


async def test_inbox_lists_pages_counts_and_marks_read(
    client: httpx.AsyncClient, db: AsyncSession, session_factory: async_sessionmaker[AsyncSession],
    dev_providers: Any, staff_ids: Any,
) -> None:  # fmt: skip
    await _tasks(db, session_factory, staff_ids["collector1"], 5, "api")
    await _tasks(db, session_factory, staff_ids["handler1"], 1, "api-other")
    me = await _login(client, "collector1")

    first = await client.get(INBOX, params={"limit": 2}, headers=me)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["unread_count"] == 5 and len(page["items"]) == 2 and page["next_cursor"]
    assert [i["title"] for i in page["items"]] == ["新任务：XZ20261121000004", "新任务：XZ20261121000003"]
    assert page["items"][0]["body"] == "任务4，请于规定时限前处理。" and page["items"][0]["read"] is False
    seen = [i["id"] for i in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        more = (await client.get(INBOX, params={"limit": 2, "cursor": cursor}, headers=me)).json()
        seen += [i["id"] for i in more["items"]]
        cursor = more["next_cursor"]
    assert len(seen) == len(set(seen)) == 5

    read = await client.post(f"{INBOX}/{seen[0]}/read", headers=me)
    assert read.status_code == 200 and read.json()["read"] is True and read.json()["read_at"]
    assert (await client.post(f"{INBOX}/{seen[0]}/read", headers=me)).status_code == 200  # again: fine
    assert (await client.get(f"{INBOX}/unread-count", headers=me)).json() == {"unread_count": 4}
    unread = (await client.get(INBOX, params={"unread_only": True}, headers=me)).json()
    assert seen[0] not in [i["id"] for i in unread["items"]] and len(unread["items"]) == 4

    other = await _login(client, "handler1")
    theirs = (await client.get(INBOX, headers=other)).json()["items"]
    assert len(theirs) == 1
    refused = await client.post(f"{INBOX}/{theirs[0]['id']}/read", headers=me)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "inbox_item_not_found"

    assert (await client.post(f"{INBOX}/read-all", headers=me)).json() == {"marked": 4, "unread_count": 0}
    assert (await client.get(f"{INBOX}/unread-count", headers=me)).json() == {"unread_count": 0}

    assert (await client.get(INBOX)).status_code == 401
    bad = await client.get(INBOX, params={"cursor": "%%%"}, headers=me)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_preferences_can_be_read_and_changed(client: httpx.AsyncClient) -> None:
    me = await _login(client, "lead1")
    prefs = (await client.get("/api/field/v1/notification-preferences", headers=me)).json()
    by_key = {(p["event"], p["channel"]): p for p in prefs}
    assert by_key[("task.assigned", "inbox")]["enabled"] is True
    assert by_key[("task.assigned", "sms")]["enabled"] is False
    assert by_key[("device.alarm", "console")] == {
        "event": "device.alarm", "label": "设备告警", "channel": "console", "enabled": True, "locked": True,
    }  # fmt: skip

    changed = await client.put(
        "/api/field/v1/notification-preferences",
        json={"changes": [{"event": "task.overdue", "channel": "sms", "enabled": True}]},
        headers=me,
    )
    assert changed.status_code == 200, changed.text
    assert {(p["event"], p["channel"]): p["enabled"] for p in changed.json()}[("task.overdue", "sms")] is True

    locked = await client.put(
        "/api/field/v1/notification-preferences",
        json={"changes": [{"event": "device.alarm", "channel": "console", "enabled": False}]},
        headers=me,
    )
    assert locked.status_code == 400 and locked.json()["error"]["code"] == "channel_locked"
    unknown = await client.put(
        "/api/field/v1/notification-preferences",
        json={"changes": [{"event": "case.accepted", "channel": "wechat", "enabled": False}]},
        headers=me,
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_event"  # a citizen event
