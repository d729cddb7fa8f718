"""The duty workflow in a real browser: a seat takes a 12345 call about an abandoned vehicle (E0106 废弃车辆,
two owning departments, so no automatic dispatch) and accepts it; the seat has no dispatch button and the
endpoint refuses the seat's forged POST (403); a dispatcher picks one of the ranked candidates; when the
case goes overdue the shift lead finds it in the red queue and on the dashboard, and urges it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.cases.sweep import sweep
from backend.models import AuditLog, Case
from tests.e2e.conftest import Console, screenshot

pytestmark = pytest.mark.e2e


async def test_from_hotline_call_to_dispatch_and_escalation(console: Console, db: Any) -> None:
    # 受理员: the call.
    seat = await console.page_as("seat1")
    await seat.click("#take-call")
    await seat.wait_for_url("**/admin/hotline")
    await seat.check("#source-hotline_12345", force=True)
    await seat.fill("#caller_phone", "13812345678")
    await seat.click("#category_code + .select2 .select2-selection")  # the searchable category picker
    await seat.fill(".select2-search__field", "废弃车辆")
    await seat.keyboard.press("Enter")
    await seat.select_option("[name='q.E0106.vehicle_type']", "机动车")
    await seat.fill("[name='q.E0106.plate_number']", "鄂A·D1234")
    await seat.fill("#content", "小区东门外一辆白色轿车停放半年以上，落满灰尘，轮胎瘪了")
    await seat.fill("#address", "邾城街道问津大道88号东门")
    await seat.select_option("#street_code", "420117001")
    await seat.select_option("#grid_code", "420117001001001")
    await screenshot(seat, "console-hotline.png")
    async with seat.expect_navigation():
        await seat.click("#submit-hotline")
    number = re.search(r"案卷 (\d{12})", await seat.inner_text("h3.card-title"))
    assert number, await seat.content()
    case_url = seat.url
    assert "上报" in await seat.inner_text("#case-state")
    assert "138****5678" not in await seat.content(), "the seat sees the number it will call back"

    async with seat.expect_navigation():
        await seat.click("#btn-accept")
    assert await seat.inner_text("#case-state") == "已立案"
    assert await seat.locator("#btn-dispatch").count() == 0, "a seat does not dispatch"
    assert await seat.locator("#dispatch-form").count() == 0
    token = await seat.get_attribute("meta[name=csrf-token]", "content")
    forged = await seat.context.request.post(
        case_url + "/dispatch",
        form={"csrf_token": str(token), "department_id": "00000000-0000-0000-0000-000000000000"},
        headers={"accept": "application/json"},
    )
    assert forged.status == 403 and (await forged.json())["error"]["code"] == "forbidden"

    # 派遣员: the manual queue with the ranked candidates.
    dispatcher = await console.page_as("dispatcher1")
    await dispatcher.goto("/admin/cases?queue=to_dispatch")
    async with dispatcher.expect_navigation():
        await dispatcher.click(f"text={number.group(1)}")
    candidates = dispatcher.locator("#candidates tbody tr")
    assert await candidates.count() >= 3  # two tied owners, the 环卫 rule for all E01, and "other"
    assert "置信度" in await dispatcher.inner_text("#candidates thead")
    await dispatcher.click("#candidates label:has-text('新洲区城市管理执法局')")
    await dispatcher.fill("#dispatch-form input[name=note]", "车辆停放在人行道上，由执法局处置")
    async with dispatcher.expect_navigation():
        await dispatcher.click("#btn-dispatch")
    assert await dispatcher.inner_text("#case-state") == "已派遣"
    assert "新洲区城市管理执法局" in await dispatcher.inner_text("#case-department")
    assert await dispatcher.locator("#timeline li[data-action=dispatch]").count() == 1

    # Time passes: the dispose stage runs out and the sweep turns the case red (超期).
    case = await db.scalar(select(Case).where(Case.number == number.group(1)))
    assert case.state == "dispatched" and case.deadline is not None
    await sweep(db, now=case.deadline + timedelta(hours=1))

    # 值班长: the red queue, the dashboard, 催办.
    lead = await console.page_as("lead1")
    await lead.wait_for_load_state("networkidle")
    assert int(await lead.inner_text("a[data-queue=red] .stat-number")) >= 1
    assert "新洲区城市管理执法局" in await lead.inner_text("#overdue-by-department")
    assert "12345热线" in await lead.inner_text("#intake-today")
    await screenshot(lead, "console-dashboard.png")
    await lead.goto("/admin/cases?queue=red")
    assert await lead.locator(f"#queue-table tr[data-case='{number.group(1)}']").count() == 1
    await lead.goto("/admin/cases?queue=to_dispatch")
    assert await lead.locator(f"#queue-table tr[data-case='{number.group(1)}']").count() == 0
    await lead.goto(case_url)
    await lead.fill("form[data-action=urge] input[name=note]", "已超期，请今日内处置完毕")
    async with lead.expect_navigation():
        await lead.click("#btn-urge")
    actions = await lead.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions == ["report", "accept", "dispatch", "overdue", "urge"]
    timeline = await lead.inner_text("#timeline")
    for words in ("上报", "立案", "派遣", "超期", "催办", "派往 新洲区城市管理执法局"):
        assert words in timeline
    await screenshot(lead, "console-case.png")

    trail = (await db.scalars(select(AuditLog).where(AuditLog.object_id == str(case.id)).order_by(AuditLog.at))).all()
    assert [(e.action, e.username, e.role) for e in trail] == [
        ("intake", "seat1", "seat"), ("accept", "seat1", "seat"), ("dispatch", "dispatcher1", "dispatcher"),
        ("urge", "lead1", "shift_lead"),
    ]  # fmt: skip
