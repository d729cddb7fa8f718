"""Inspections (执法检查): checklist, findings with photos, cases opened from findings (source
``inspection``), and who may see them."""

from __future__ import annotations

from typing import Any

import httpx

from backend.cases import service as cases
from backend.geo import wgs84_to_gcj02
from tests.integration.field.field_support import actor, grid_centre, new_client_id, now, sign_in, upload_photo

BASE = "/api/field/v1/inspections"


async def test_inspection_with_findings_opens_cases(client: httpx.AsyncClient, db: Any) -> None:
    headers = await sign_in(client, "officer1")
    photo = await upload_photo(client, headers)
    finding_photo = await upload_photo(client, headers)
    lat, lng = await grid_centre(db, "420117001001003")
    gcj = wgs84_to_gcj02(lat, lng)
    body = {
        "client_id": new_client_id(),
        "client_ts": now().isoformat(),
        "place": "邾城大街88号 好运来超市",
        "object_name": "好运来超市",
        "object_kind": "shop",
        "lat": gcj.lat,
        "lng": gcj.lng,
        "checklist": [
            {"item": "门前三包责任书上墙", "passed": True},
            {"item": "无店外经营", "passed": False, "note": "货架摆到人行道"},
        ],
        "findings": [
            {"description": "店外经营，占道约3平方米", "category_code": "E0502", "photos": [finding_photo],
             "create_case": True},
            {"description": "招牌破损", "category_code": "C0304", "answers": {"problem": "破损残缺"}},
        ],
        "photos": [photo],
    }  # fmt: skip
    created = await client.post(BASE, json=body, headers=headers)
    assert created.status_code == 200, created.text
    result = created.json()
    assert result["passed"] is False and [f["seq"] for f in result["findings"]] == [1, 2]
    case_id = result["findings"][0]["case_id"]
    assert case_id is not None and result["findings"][1]["case_id"] is None

    seat = await actor(db, "seat1")
    case = await cases.get_case(db, seat, case_id)
    assert case.source == "inspection" and case.grid_code == "420117001001003"
    assert case.photos == [finding_photo] and case.address == "邾城大街88号 好运来超市"
    assert "店外经营" in case.description

    # The second finding becomes a case later, once — with the category's questions answered.
    unanswered = await client.post(
        f"{BASE}/{result['inspection_id']}/findings/2/case",
        json={"client_id": new_client_id(), "client_ts": now().isoformat()},
        headers=headers,
    )
    assert unanswered.status_code == 400 and unanswered.json()["error"]["code"] == "invalid_answers"
    later = await client.post(
        f"{BASE}/{result['inspection_id']}/findings/2/case",
        json={"client_id": new_client_id(), "client_ts": now().isoformat(), "answers": {"people_injured": False}},
        headers=headers,
    )
    assert later.status_code == 200, later.text
    assert later.json()["findings"][1]["case_id"] is not None
    again = await client.post(
        f"{BASE}/{result['inspection_id']}/findings/2/case",
        json={"client_id": new_client_id(), "client_ts": now().isoformat()},
        headers=headers,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "finding_has_case"
    missing = await client.post(
        f"{BASE}/{result['inspection_id']}/findings/9/case",
        json={"client_id": new_client_id(), "client_ts": now().isoformat()},
        headers=headers,
    )
    assert missing.status_code == 404

    detail = await client.get(f"{BASE}/{result['inspection_id']}", headers=headers)
    assert detail.status_code == 200
    shown = detail.json()
    assert shown["checklist"][1] == {"item": "无店外经营", "passed": False, "note": "货架摆到人行道"}
    assert shown["photos"] == [photo] and shown["grid_code"] == "420117001001003"
    assert abs(shown["lat"] - gcj.lat) < 1e-6
    listed = (await client.get(BASE, headers=headers)).json()["items"]
    assert result["inspection_id"] in {i["id"] for i in listed}


async def test_who_may_see_and_record_inspections(client: httpx.AsyncClient, db: Any) -> None:
    officer = await sign_in(client, "officer1")
    body = {
        "client_id": new_client_id(),
        "client_ts": now().isoformat(),
        "place": "阳逻工地",
        "object_name": "某建筑工地",
        "checklist": [{"item": "围挡完好", "passed": True}],
    }
    created = (await client.post(BASE, json=body, headers=officer)).json()
    inspection_id = created["inspection_id"]
    assert created["passed"] is True

    other_department = await sign_in(client, "handler1")  # 环卫, not 执法局
    assert (await client.get(f"{BASE}/{inspection_id}", headers=other_department)).status_code == 404
    assert inspection_id not in {i["id"] for i in (await client.get(BASE, headers=other_department)).json()["items"]}
    lead = await sign_in(client, "lead1")
    assert (await client.get(f"{BASE}/{inspection_id}", headers=lead)).status_code == 200
    collector = await sign_in(client, "collector1")
    assert (await client.post(BASE, json={**body, "client_id": new_client_id()}, headers=collector)).status_code == 403
    no_checklist = {**body, "client_id": new_client_id(), "checklist": []}
    assert (await client.post(BASE, json=no_checklist, headers=officer)).status_code == 400
    bad_category = {**body, "client_id": new_client_id(), "findings": [{"description": "x", "category_code": "Z9999"}]}
    refused = await client.post(BASE, json=bad_category, headers=officer)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_category"
