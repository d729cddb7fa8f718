"""The admin console over HTTP: hotline intake and its validation, queues with masked numbers, role
checks on pages and POSTs, CSRF refusal, and the audit trail of every write."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.catalog.cache import CATEGORIES
from backend.models import AuditLog, Case, Category, Department, Staff
from backend.org.passwords import verify_password
from tests.integration.admin.conftest import SignIn

GRID = "420117001001001"  # a grid of 邾城街道
CALL = {"source": "hotline_12345", "caller_phone": "13812340000", "content": "小区门口有一辆废弃车辆，长期占用车位",
        "category_code": "E0106", "urgency": "", "address": "邾城街道问津大道88号", "lat": "", "lng": "",
        "coord": "wgs84", "district_code": "420117", "street_code": "420117001", "grid_code": GRID,
        "q.E0106.vehicle_type": "机动车", "q.E0106.plate_number": "鄂A12345"}  # fmt: skip


async def take_call(client: httpx.AsyncClient, token: str, **changes: str) -> httpx.Response:
    return await client.post("/admin/hotline", data={**CALL, **changes, "csrf_token": token})


def case_id_of(response: httpx.Response) -> uuid.UUID:
    problems = re.findall(r'class="(?:form-error|alert alert-danger)"[^>]*>([^<]+)', response.text)
    assert response.status_code == 303, (response.status_code, problems)
    found = re.search(r"/admin/cases/([0-9a-f-]{36})$", response.headers["location"])
    assert found, response.headers["location"]
    return uuid.UUID(found.group(1))


async def act(client: httpx.AsyncClient, token: str, case_id: uuid.UUID, action: str, **form: str) -> httpx.Response:
    return await client.post(f"/admin/cases/{case_id}/{action}", data={**form, "csrf_token": token})


@pytest.mark.parametrize("username", ["seat1", "dispatcher1", "lead1", "admin", "auditor1"])
async def test_every_console_role_sees_the_dashboard(client: httpx.AsyncClient, sign_in: SignIn, username: str) -> None:
    await sign_in(username)
    home = await client.get("/admin/")
    assert home.status_code == 200
    for words in (
        "值班总览",
        "今日受理（按来源）",
        "在办案卷（按红黄绿灯）",
        "超期案卷（按部门）",
        "设备告警（未解除）",
    ):
        assert words in home.text
    assert "/admin/evaluation/chart/ranking.svg" in home.text and "export.xlsx" in home.text
    assert ("受理来电" in home.text) == (username in {"seat1", "lead1"})


async def test_a_hotline_call_becomes_a_case_with_its_audit_entry(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    token = await sign_in("seat1")
    form = await client.get("/admin/hotline")
    assert form.status_code == 200 and "E0106 废弃车辆" in form.text and "单元网格" in form.text
    response = await take_call(client, token)
    case_id = case_id_of(response)
    case = await db.get(Case, case_id)
    assert (case.source, case.category_code, case.state, case.reporter_kind) == ("hotline_12345", "E0106", "reported",
                                                                                 "phone")  # fmt: skip
    assert case.reporter_phone == "13812340000" and case.grid_code == GRID and case.street_code == "420117001"
    entry = await db.scalar(select(AuditLog).where(AuditLog.object_id == str(case_id)))
    seat = await db.scalar(select(Staff).where(Staff.username == "seat1"))
    assert (entry.view, entry.action, entry.username, entry.role, entry.staff_id) == ("case", "intake", "seat1", "seat",
                                                                                      seat.id)  # fmt: skip
    assert entry.after["number"] == case.number and entry.before is None
    assert entry.request_id == response.headers["x-request-id"]

    page = await client.get(f"/admin/cases/{case_id}")
    assert page.status_code == 200 and case.number in page.text and "已受理来电" in page.text
    assert "上报" in page.text and "12345热线" in page.text  # the timeline in words


async def test_the_hotline_form_lists_every_problem(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("seat1")
    before = await db.scalar(select(AuditLog.id).order_by(AuditLog.at.desc()).limit(1))
    empty = await client.post("/admin/hotline", data={"csrf_token": token, "source": "hotline_12345"})
    assert empty.status_code == 400
    for message in ("请填写来电号码", "请填写来电内容", "请选择问题分类", "请填写坐标，或选择区、街道和单元网格"):
        assert message in empty.text
    bad = await take_call(client, token, caller_phone="12345", lat="91", lng="114.8", source="citizen")
    assert bad.status_code == 400
    assert "来电号码格式不正确" in bad.text and "坐标无效" in bad.text and "请选择来电热线" in bad.text
    assert 'value="12345"' in bad.text, "what was typed is kept"
    unknown = await take_call(client, token, category_code="E9999")
    assert unknown.status_code == 400 and "问题分类不存在或已停用" in unknown.text
    no_grid = await take_call(client, token, grid_code="420117999999999")
    assert no_grid.status_code == 400 and "所选单元网格不存在" in no_grid.text
    assert await db.scalar(select(AuditLog.id).order_by(AuditLog.at.desc()).limit(1)) == before, "nothing written"


async def test_coordinates_in_gcj02_are_stored_as_wgs84(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("lead1")
    grid_case = await db.get(Case, case_id_of(await take_call(client, token)))
    lat, lng = grid_case.lat, grid_case.lng
    from backend.geo.coords import wgs84_to_gcj02

    g = wgs84_to_gcj02(lat, lng)
    case = await db.get(Case, case_id_of(await take_call(client, token, lat=str(g.lat), lng=str(g.lng), coord="gcj02",
                                                         grid_code="")))  # fmt: skip
    assert abs(case.lat - lat) < 1e-5 and abs(case.lng - lng) < 1e-5 and case.grid_code == GRID


async def test_queues_mask_the_callers_number(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("seat1")
    case = await db.get(Case, case_id_of(await take_call(client, token, caller_phone="138 0013 8000")))
    assert case.reporter_phone == "13800138000"
    queue = await client.get("/admin/cases", params={"queue": "to_accept", "category": "E0106"})
    assert queue.status_code == 200 and case.number in queue.text
    assert "138****8000" in queue.text and "13800138000" not in queue.text
    await sign_in("auditor1")
    page = await client.get(f"/admin/cases/{case.id}")
    assert "138****8000" in page.text and "13800138000" not in page.text, "only seats and shift leads see it whole"


async def test_buttons_and_posts_follow_the_roles(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    seat = await sign_in("seat1")
    case_id = case_id_of(await take_call(client, seat))
    page = await client.get(f"/admin/cases/{case_id}")
    assert 'id="btn-accept"' in page.text and 'id="btn-reject"' in page.text
    assert 'id="btn-dispatch"' not in page.text
    accepted = await act(client, seat, case_id, "accept", note="符合立案条件")
    assert accepted.status_code == 303
    case = await db.get(Case, case_id)
    await db.refresh(case)
    assert case.state == "accepted", "E0106 has two owners: it waits for the dispatcher"
    assert len(case.dispatch_candidates) >= 2

    page = await client.get(f"/admin/cases/{case_id}")
    assert 'id="btn-dispatch"' not in page.text and 'id="no-actions"' in page.text
    department = case.dispatch_candidates[0]["department_id"]
    refused = await client.post(
        f"/admin/cases/{case_id}/dispatch",
        data={"csrf_token": seat, "department_id": department},
        headers={"accept": "application/json"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden" and refused.json()["error"]["request_id"]
    as_page = await act(client, seat, case_id, "dispatch", department_id=department)
    assert as_page.status_code == 403 and "无权执行此操作" in as_page.text
    await db.refresh(case)
    assert case.state == "accepted" and case.main_department_id is None

    dispatcher = await sign_in("dispatcher1")
    page = await client.get(f"/admin/cases/{case_id}")
    assert 'id="btn-dispatch"' in page.text and "置信度" in page.text and 'id="btn-accept"' not in page.text
    done = await act(client, dispatcher, case_id, "dispatch", department_id=department, note="交通大队处置")
    assert done.status_code == 303
    await db.refresh(case)
    assert case.state == "dispatched" and str(case.main_department_id) == department
    entries = (await db.scalars(select(AuditLog).where(AuditLog.object_id == str(case_id))
                                .order_by(AuditLog.at))).all()  # fmt: skip
    assert [(e.action, e.role) for e in entries] == [("intake", "seat"), ("accept", "seat"), ("dispatch", "dispatcher")]
    assert entries[-1].before == {"state": "accepted"} and entries[-1].after["state"] == "dispatched"
    assert "csrf_token" not in entries[-1].after

    lead = await sign_in("lead1")
    red_or_any = await client.get("/admin/cases", params={"queue": "open"})
    assert case.number in red_or_any.text
    urged = await act(client, lead, case_id, "urge", note="请尽快处置")
    assert urged.status_code == 303
    await db.refresh(case)
    assert case.state == "dispatched"
    auditor = await sign_in("auditor1")
    assert (await act(client, auditor, case_id, "suspend", reason="x")).status_code == 403


async def test_pages_are_closed_to_roles_without_them(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    await sign_in("auditor1")
    assert (await client.get("/admin/hotline")).status_code == 403
    assert (await client.get("/admin/audit-log/list")).status_code == 200
    assert (await client.get("/admin/staff/create")).status_code == 403
    await sign_in("dispatcher1")
    assert (await client.get("/admin/audit-log/list")).status_code == 403
    assert (await client.get("/admin/geo-import")).status_code == 403
    listing = await client.get("/admin/category/list", params={"search": "E0106"})
    assert listing.status_code == 200 and "E0106" in listing.text and "/admin/category/create" not in listing.text
    assert (await client.get("/admin/category/create")).status_code == 403
    assert (await client.get("/admin/category/edit/E0106")).status_code == 403
    await sign_in("admin")
    assert (await client.get("/admin/category/edit/E0106")).status_code == 200
    assert (await client.get("/admin/hotline")).status_code == 403, "administrators configure, seats take calls"


async def test_forms_without_the_csrf_token_are_refused(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("seat1")
    count = await db.scalar(select(Case.id).where(Case.description == CALL["content"]).limit(1))
    missing = await client.post("/admin/hotline", data=CALL)
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = await client.post("/admin/hotline", data={**CALL, "csrf_token": token[::-1]})
    assert wrong.status_code == 403
    as_json = await client.post("/admin/hotline", data=CALL, headers={"accept": "application/json"})
    assert as_json.json()["error"]["code"] == "csrf_failed"
    deleting = await client.delete("/admin/notice/delete", params={"pks": str(uuid.uuid4())})
    assert deleting.status_code == 403
    assert await db.scalar(select(Case.id).where(Case.description == CALL["content"]).limit(1)) == count
    # The token from another session does not open this one.
    other = await sign_in("lead1")
    await sign_in("seat1")
    assert (await client.post("/admin/hotline", data={**CALL, "csrf_token": other})).status_code == 403


async def test_staff_are_created_with_a_password_never_shown(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    token = await sign_in("admin")
    department = await db.scalar(select(Department.id).where(Department.code == "XZ-CMD"))
    form = await client.get("/admin/staff/create")
    assert form.status_code == 200 and "密码" in form.text and "password_hash" not in form.text
    data = {"csrf_token": token, "username": "seat9", "name": "孙受理", "phone": "13900001111", "roles": ["seat"],
            "department_id": str(department), "active": "y", "password": "weak", "save": "Save"}  # fmt: skip
    weak = await client.post("/admin/staff/create", data=data)
    assert weak.status_code == 400 and "密码至少8位" in weak.text
    nameless = await client.post("/admin/staff/create", data={**data, "name": ""})
    assert nameless.status_code == 400 and "该字段是必填字段" in nameless.text, "form messages are Chinese too"
    created = await client.post("/admin/staff/create", data={**data, "password": "Seat9pass2026"})
    assert created.status_code == 302, created.text[:3000]
    staff = await db.scalar(select(Staff).where(Staff.username == "seat9"))
    assert staff.password_hash.startswith("$argon2id$") and verify_password(staff.password_hash, "Seat9pass2026")
    assert staff.roles == ["seat"] and staff.department_id == department
    entry = await db.scalar(select(AuditLog).where(AuditLog.view == "staff", AuditLog.object_id == str(staff.id)))
    assert entry.action == "create" and entry.after["password_hash"] == "***" and "argon2" not in str(entry.after)
    listing = await client.get("/admin/staff/list")
    assert "$argon2" not in listing.text and "138****0001" in listing.text and "13800000001" not in listing.text


async def test_time_limits_are_checked_by_the_catalog_rules(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    token = await sign_in("admin")
    category = await db.get(Category, "E0106")
    radius = category.similar_radius_m
    limits = {u: dict(category.time_limits[u]) for u in category.time_limits}
    slower = {
        **limits,
        "urgent": {**limits["urgent"], "dispose": {"amount": 999, "unit": limits["normal"]["dispose"]["unit"]}},
    }
    form = {"csrf_token": token, "code": "E0106", "kind": "event", "major_code": "01", "name": category.name,
            "default_urgency": "normal", "owner_hint": category.owner_hint,
            "accept_condition": category.accept_condition,
            "close_condition": category.close_condition, "similar_radius_m": "80", "similar_window_h": "72",
            "divert_to": "", "citizen_selectable": "y", "questions": "[]", "active": "y", "save": "Save"}  # fmt: skip
    try:
        refused = await client.post("/admin/category/edit/E0106", data={**form, "time_limits": json.dumps(slower)})
        assert refused.status_code == 400 and "校验未通过" in refused.text and "urgent/dispose" in refused.text
        saved = await client.post("/admin/category/edit/E0106", data={**form, "time_limits": json.dumps(limits)})
        assert saved.status_code == 302, saved.text[:3000]
        await db.refresh(category)
        assert category.similar_radius_m == 80
        entry = await db.scalar(select(AuditLog).where(AuditLog.view == "category", AuditLog.object_id == "E0106"))
        assert entry.action == "update" and entry.role == "admin" and entry.username == "admin"
        assert entry.before["similar_radius_m"] == radius and entry.after["similar_radius_m"] == 80
        assert "time_limits" not in entry.after, "only what changed is summarized"
    finally:
        CATEGORIES.invalidate()


async def test_a_duplicate_call_is_merged_into_the_first(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("seat1")
    first = case_id_of(await take_call(client, token))
    second = case_id_of(await take_call(client, token, caller_phone="13999990000", content="又有人反映那辆废弃车"))
    page = await client.get(f"/admin/cases/{second}")
    assert "附近有 1 件相似案卷" in page.text and "合并到此案卷" in page.text
    merged = await act(client, token, second, "merge", into_case_id=str(first))
    assert merged.status_code == 303
    duplicate, survivor = await db.get(Case, second), await db.get(Case, first)
    await db.refresh(duplicate)
    assert duplicate.state == "merged" and duplicate.merged_into_id == survivor.id
    page = await client.get(f"/admin/cases/{first}")
    assert "合并入" in page.text and duplicate.number in page.text


async def test_the_shift_lead_decides_extensions_and_suspends(
    client: httpx.AsyncClient, sign_in: SignIn, db: Any
) -> None:
    from backend.cases import service
    from backend.cases.enums import CaseAction
    from tests.integration.cases.conftest import staff_actor

    seat = await sign_in("seat1")
    case_id = case_id_of(await take_call(client, seat))
    await act(client, seat, case_id, "accept")
    lead = await sign_in("lead1")
    cgj = await db.scalar(select(Department.id).where(Department.code == "XZ-CGJ"))
    assert (
        await act(client, lead, case_id, "dispatch", department_id="other", other_department_id=str(cgj))
    ).status_code == 303
    officer = await staff_actor(db, "officer1")
    await service.step(db, officer, case_id, CaseAction.take)
    await service.request_extension(db, officer, case_id, 2, "working_days", "车主联系不上，需要公告")
    page = await client.get(f"/admin/cases/{case_id}")
    assert 'id="btn-approve_extension"' in page.text and "车主联系不上" in page.text
    assert (await act(client, lead, case_id, "approve_extension", note="同意")).status_code == 303
    case = await db.get(Case, case_id)
    await db.refresh(case)
    assert case.extensions == 1 and case.extension_request is None
    missing_reason = await act(client, lead, case_id, "suspend")
    assert missing_reason.status_code == 303
    await db.refresh(case)
    assert case.state == "disposing", "a suspension needs its reason"
    assert "操作未完成：挂账须填写原因" in (await client.get(f"/admin/cases/{case_id}")).text
    assert (await act(client, lead, case_id, "suspend", reason="等待车主公告期满")).status_code == 303
    await db.refresh(case)
    assert case.state == "suspended"
    assert 'id="btn-resume"' in (await client.get(f"/admin/cases/{case_id}")).text
    assert (await act(client, lead, case_id, "resume")).status_code == 303
    await db.refresh(case)
    assert case.state == "disposing"
    actions = (await db.scalars(select(AuditLog.action).where(AuditLog.object_id == str(case_id))
                                .order_by(AuditLog.at))).all()  # fmt: skip
    assert actions == ["intake", "accept", "dispatch", "approve_extension", "suspend", "resume"]


async def test_photos_are_shown_through_presigned_links(client: httpx.AsyncClient, sign_in: SignIn, db: Any) -> None:
    token = await sign_in("seat1")
    case = await db.get(Case, case_id_of(await take_call(client, token)))
    case.photos = ["reports/2026/11/22/abandoned-car.jpg"]
    await db.flush()
    page = await client.get(f"/admin/cases/{case.id}")
    links = re.findall(r'<img class="photo-thumb[^"]*" src="([^"]+)"', page.text)
    assert len(links) == 1 and "abandoned-car.jpg" in links[0] and "X-Amz-Signature" in links[0]
