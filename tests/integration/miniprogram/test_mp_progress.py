"""My reports: the list, the plain-language progress, rating after closure (once), "not fixed" within the
window — and nobody else's report."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from backend.models import Case, CaseEvent, Staff
from tests.integration.miniprogram.mp_support import MP, close_case, count, report_body, sign_in


async def _report(client: httpx.AsyncClient, db: Any, headers: dict[str, str], **overrides: Any) -> str:
    created = await client.post(f"{MP}/reports", json=await report_body(db, **overrides), headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_progress_in_plain_words_names_the_department_never_the_staff(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    report_id = await _report(client, db, alice)
    case = await close_case(db, report_id)

    detail = await client.get(f"{MP}/reports/{report_id}", headers=alice)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["state"] == "closed" and body["status_text"] == "已办结"
    assert body["department"] == "新洲区环境卫生管理处"
    titles = [t["title"] for t in body["timeline"]]
    assert titles == ["已上报", "已受理", "已派遣", "处置中", "已处置", "已办结"]
    dispatched = body["timeline"][2]["text"]
    assert dispatched.startswith("已派遣至新洲区环境卫生管理处处理，处置时限至") and "月" in dispatched
    assert all(t["at"].endswith("+08:00") for t in body["timeline"])
    assert body["can_rate"] is True and body["can_reopen"] is True and body["reopen_until"].endswith("+08:00")
    # Neither the staff who handled it nor their phones appear anywhere.
    for member in (await db.scalars(select(Staff))).all():
        assert member.name not in detail.text and member.username not in detail.text
        if member.phone:
            assert member.phone not in detail.text
    assert str(case.main_department_id) not in detail.text

    page = (await client.get(f"{MP}/reports", headers=alice, params={"limit": 1})).json()
    assert page["items"][0]["id"] == report_id and page["items"][0]["status_text"] == "已办结"


async def test_my_reports_are_cursor_paginated(client: httpx.AsyncClient, db: Any) -> None:
    bob = await sign_in(client, "dev-bob")
    ids = [await _report(client, db, bob, description=f"第{i}处垃圾") for i in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{MP}/reports", headers=bob, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert (await client.get(f"{MP}/reports", headers=bob, params={"limit": 51})).status_code == 400


async def test_another_citizens_report_is_404(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    report_id = await _report(client, db, alice)
    await close_case(db, report_id)
    bob = await sign_in(client, "dev-bob")
    for response in [
        await client.get(f"{MP}/reports/{report_id}", headers=bob),
        await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 1}, headers=bob),
        await client.post(f"{MP}/reports/{report_id}/not-fixed", json={"reason": "x"}, headers=bob),
        await client.get(f"{MP}/reports/{uuid.uuid4()}", headers=bob),
    ]:
        assert response.status_code == 404 and response.json()["error"]["code"] == "case_not_found"
    assert (await client.get(f"{MP}/reports", headers=bob)).json()["items"] == []


async def test_rating_only_after_closure_and_only_once(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    report_id = await _report(client, db, alice)
    early = await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 5}, headers=alice)
    assert early.status_code == 409 and early.json()["error"]["code"] == "case_not_closed"

    await close_case(db, report_id)
    invalid = await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 6}, headers=alice)
    assert invalid.status_code == 400
    risky = await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 1, "comment": "赌博"}, headers=alice)
    assert risky.status_code == 400 and risky.json()["error"]["code"] == "risky_content"

    rated = await client.post(
        f"{MP}/reports/{report_id}/rating", json={"score": 4, "comment": "处理很及时"}, headers=alice
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"] == {"score": 4, "comment": "处理很及时"} and rated.json()["can_rate"] is False
    assert rated.json()["timeline"][-1]["title"] == "已评价"
    twice = await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 1}, headers=alice)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_rated"
    case = await db.get(Case, uuid.UUID(report_id), populate_existing=True)
    assert (case.rating, case.rating_comment) == (4, "处理很及时")


async def test_follower_cannot_rate(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    report_id = await _report(client, db, alice)
    bob = await sign_in(client, "dev-bob")
    assert (await client.post(f"{MP}/reports/{report_id}/follow", headers=bob)).status_code == 200
    await close_case(db, report_id)
    refused = await client.post(f"{MP}/reports/{report_id}/rating", json={"score": 2}, headers=bob)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_reporter"
    closed_follow = await client.post(f"{MP}/reports/{report_id}/follow", headers=await sign_in(client, "dev-carol"))
    assert closed_follow.status_code == 409


async def test_not_fixed_reopens_within_the_window_and_is_refused_after(
    client: httpx.AsyncClient, db: Any, runtime: Any
) -> None:
    alice = await sign_in(client)
    report_id = await _report(client, db, alice)
    early = await client.post(f"{MP}/reports/{report_id}/not-fixed", json={}, headers=alice)
    assert early.status_code == 409 and early.json()["error"]["code"] == "case_not_closed"

    case = await close_case(db, report_id)
    department = case.main_department_id
    events_before = await count(db, CaseEvent)
    reopened = await client.post(
        f"{MP}/reports/{report_id}/not-fixed", json={"reason": "垃圾又堆起来了"}, headers=alice
    )
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert body["state"] == "dispatched", "reopened and sent straight back to the department"
    assert body["department"] == "新洲区环境卫生管理处" and body["timeline"][-2]["title"] == "重新办理"
    case = await db.get(Case, uuid.UUID(report_id), populate_existing=True)
    assert case.reopens == 1 and case.main_department_id == department
    reopen = await db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "reopen"))
    assert reopen.actor_kind == "citizen" and reopen.actor_role == "citizen" and reopen.note == "垃圾又堆起来了"
    assert await count(db, CaseEvent) == events_before + 2  # reopen + the dispatch back

    # Closed again, but longer ago than the window (7 days by default): refused.
    await close_case_again(db, report_id)
    window = runtime.settings.citizens.reopen_window_days
    case = await db.get(Case, uuid.UUID(report_id), populate_existing=True)
    case.closed_at = case.closed_at - timedelta(days=window, minutes=1)
    await db.flush()
    late = await client.post(f"{MP}/reports/{report_id}/not-fixed", json={}, headers=alice)
    assert late.status_code == 409 and late.json()["error"]["code"] == "reopen_window_passed"
    detail = (await client.get(f"{MP}/reports/{report_id}", headers=alice)).json()
    assert detail["can_reopen"] is False and detail["state"] == "closed"


async def close_case_again(db: Any, report_id: str) -> None:
    from backend.cases import service as cases
    from backend.cases.enums import CaseAction
    from tests.integration.miniprogram.mp_support import staff

    cid = uuid.UUID(report_id)
    handler = await staff(db, "handler1")
    await cases.step(db, handler, cid, CaseAction.take)
    await cases.step(db, handler, cid, CaseAction.finish)
    await cases.check(db, await staff(db, "collector1"), cid, passed=True)
    await db.flush()
