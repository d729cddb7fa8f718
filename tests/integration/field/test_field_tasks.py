"""The task inbox and the case actions of the field app: authorization boundaries, map data, photo
evidence, retries, returns and extensions, and the collector's report closed on the spot."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.cases import service as cases
from backend.cases.enums import CaseAction
from backend.geo import gcj02_to_wgs84, haversine_m, wgs84_to_gcj02
from backend.models import CaseEvent
from tests.integration.field.field_support import (
    actor,
    dispatched_case,
    disposed_case,
    fresh,
    geocoder_of,
    grid_centre,
    new_client_id,
    now,
    reported_case,
    sign_in,
    upload_photo,
)

BASE = "/api/field/v1"


def write(**fields: Any) -> dict[str, Any]:
    return {"client_id": new_client_id(), "client_ts": now().isoformat(), **fields}


async def test_handler_sees_their_departments_dispatched_case_with_map_data(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    headers = await sign_in(client, "handler1")
    page = await client.get(f"{BASE}/tasks", headers=headers)
    assert page.status_code == 200, page.text
    item = next(i for i in page.json()["items"] if i["case_id"] == str(case.id))
    assert item["task"] == "dispose" and item["task_label"] == "处置"
    assert item["state"] == "dispatched" and item["category_name"] == "暴露垃圾"
    assert item["address"] == "邾城大街1号" and item["light"] == "green" and item["deadline"]
    assert item["coord"] == "gcj02"
    expected = wgs84_to_gcj02(case.lat, case.lng)
    assert (item["lat"], item["lng"]) == pytest.approx((expected.lat, expected.lng), abs=1e-9)
    assert [a["action"] for a in item["actions"]] == ["take", "return"]

    wgs = await client.get(f"{BASE}/tasks/{case.id}", params={"coord": "wgs84"}, headers=headers)
    assert wgs.status_code == 200
    detail = wgs.json()
    assert (detail["lat"], detail["lng"]) == pytest.approx((case.lat, case.lng))
    assert [e["action"] for e in detail["timeline"]] == ["report", "accept", "dispatch"]
    assert detail["timeline"][0]["label"] == "上报" and detail["version"] == case.version


async def test_another_departments_case_does_not_exist(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)  # 环卫's; officer1 is 执法局
    headers = await sign_in(client, "officer1")
    assert (await client.get(f"{BASE}/tasks/{case.id}", headers=headers)).status_code == 404
    take = await client.post(f"{BASE}/tasks/{case.id}/take", json=write(), headers=headers)
    assert take.status_code == 404 and take.json()["error"]["code"] == "case_not_found"
    listed = (await client.get(f"{BASE}/tasks", headers=headers)).json()["items"]
    assert str(case.id) not in {i["case_id"] for i in listed}
    assert (await fresh(db, case)).state == "dispatched"


async def test_a_collector_on_a_handler_endpoint_is_forbidden(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)  # in collector1's grid: they can see it …
    headers = await sign_in(client, "collector1")
    assert (await client.get(f"{BASE}/tasks/{case.id}", headers=headers)).status_code == 200
    for action in ("take", "return", "extension"):  # … but not act as a handler
        response = await client.post(f"{BASE}/tasks/{case.id}/{action}", json=write(reason="x"), headers=headers)
        assert response.status_code == 403, action
        assert response.json()["error"]["code"] == "forbidden"
    seat = await sign_in(client, "seat1")
    assert (await client.get(f"{BASE}/tasks", headers=seat)).status_code == 403
    handler = await sign_in(client, "handler1")
    verify = await client.post(f"{BASE}/tasks/{case.id}/verify", json=write(confirmed=True), headers=handler)
    assert verify.status_code == 403


async def test_take_is_applied_once_however_often_it_is_sent(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    headers = await sign_in(client, "handler1")
    body = write(note="马上到")
    first = await client.post(f"{BASE}/tasks/{case.id}/take", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "disposing" and first.json()["replayed"] is False
    again = await client.post(f"{BASE}/tasks/{case.id}/take", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert {k: v for k, v in again.json().items() if k != "replayed"} == {
        k: v for k, v in first.json().items() if k != "replayed"
    }
    takes = await db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "take"))
    assert len(takes.all()) == 1
    reused = await client.post(f"{BASE}/tasks/{case.id}/take", json={**body, "note": "different"}, headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "client_id_reused"
    twice = await client.post(f"{BASE}/tasks/{case.id}/take", json=write(), headers=headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "invalid_transition"


async def test_finish_needs_uploaded_photos_of_ones_own(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    headers = await sign_in(client, "handler1")
    await client.post(f"{BASE}/tasks/{case.id}/take", json=write(), headers=headers)

    no_photo = await client.post(f"{BASE}/tasks/{case.id}/finish", json=write(photos=[]), headers=headers)
    assert no_photo.status_code == 400
    officer = await sign_in(client, "officer1")
    someone_elses = await upload_photo(client, officer)
    foreign = await client.post(f"{BASE}/tasks/{case.id}/finish", json=write(photos=[someone_elses]), headers=headers)
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "photo_not_yours"
    presigned = (await client.post(f"{BASE}/uploads", json={"content_type": "image/jpeg"}, headers=headers)).json()
    missing = await client.post(
        f"{BASE}/tasks/{case.id}/finish", json=write(photos=[presigned["key"]]), headers=headers
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "upload_missing"
    exe = await client.post(f"{BASE}/uploads", json={"content_type": "application/x-msdownload"}, headers=headers)
    assert exe.status_code == 400

    photo = await upload_photo(client, headers)
    done = await client.post(
        f"{BASE}/tasks/{case.id}/finish", json=write(photos=[photo], note="已清运"), headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "disposed"
    event = await db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "finish"))
    assert event.attachments == [photo] and event.note == "已清运"
    detail = (await client.get(f"{BASE}/tasks/{case.id}", headers=headers)).json()
    finish = next(e for e in detail["timeline"] if e["action"] == "finish")
    assert finish["attachments"][0]["key"] == photo and finish["attachments"][0]["url"].startswith("http")


async def test_collector_checks_the_disposal(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await disposed_case(db, geocoder)
    headers = await sign_in(client, "collector1")
    page = (await client.get(f"{BASE}/tasks", params={"kind": "check"}, headers=headers)).json()
    item = next(i for i in page["items"] if i["case_id"] == str(case.id))
    assert item["task"] == "check" and [a["action"] for a in item["actions"]] == ["check_pass", "check_fail"]
    assert all(i["task"] == "check" for i in page["items"])
    photo = await upload_photo(client, headers)
    failed = await client.post(
        f"{BASE}/tasks/{case.id}/check", json=write(passed=False, note="还有垃圾", photos=[photo]), headers=headers
    )
    assert failed.status_code == 200 and failed.json()["state"] == "dispatched"
    case = await fresh(db, case)
    assert case.reworks == 1


async def test_collector_verifies_a_report(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await reported_case(db, geocoder)
    await cases.step(db, await actor(db, "seat1"), case.id, CaseAction.verify_request)
    headers = await sign_in(client, "collector1")
    page = (await client.get(f"{BASE}/tasks", params={"kind": "verify"}, headers=headers)).json()
    assert str(case.id) in {i["case_id"] for i in page["items"]}
    done = await client.post(f"{BASE}/tasks/{case.id}/verify", json=write(confirmed=True), headers=headers)
    assert done.status_code == 200 and done.json()["state"] == "reported"
    event = await db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "verify_done"))
    assert event.note.startswith("核实结果：属实")


async def test_extension_and_return(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    headers = await sign_in(client, "handler1")
    await client.post(f"{BASE}/tasks/{case.id}/take", json=write(), headers=headers)
    ext = await client.post(
        f"{BASE}/tasks/{case.id}/extension",
        json=write(amount=4, unit="working_hours", reason="需要吊车"),
        headers=headers,
    )
    assert ext.status_code == 200 and ext.json()["extension_pending"] is True
    detail = (await client.get(f"{BASE}/tasks/{case.id}", headers=headers)).json()
    assert "request_extension" not in [a["action"] for a in detail["actions"]]
    second = await client.post(
        f"{BASE}/tasks/{case.id}/extension", json=write(amount=1, unit="working_days", reason="再等等"), headers=headers
    )
    assert second.status_code == 409 and second.json()["error"]["code"] == "extension_pending"
    returned = await client.post(f"{BASE}/tasks/{case.id}/return", json=write(reason="不属于环卫"), headers=headers)
    assert returned.status_code == 200 and returned.json()["state"] == "accepted"
    # Returned: no longer the department's — gone from the inbox, and 404.
    assert (await client.get(f"{BASE}/tasks/{case.id}", headers=headers)).status_code == 404


async def test_report_and_close_on_the_spot(client: httpx.AsyncClient, db: Any) -> None:
    lat, lng = await grid_centre(db, "420117001001002")
    gcj = wgs84_to_gcj02(lat, lng)
    headers = await sign_in(client, "collector1")
    photo = await upload_photo(client, headers)
    body = write(
        category_code="E0101", lat=gcj.lat, lng=gcj.lng, description="少量垃圾，已随手清理", photos=[photo],
        close_on_spot=True, note="自行处置",
    )  # fmt: skip
    response = await client.post(f"{BASE}/reports", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["state"] == "closed"
    case = await fresh(db, await cases.get_case(db, await actor(db, "seat1"), result["case_id"]))
    assert case.source == "collector" and case.kind == "immediate" and case.grid_code == "420117001001002"
    assert case.photos == [photo]
    back = gcj02_to_wgs84(gcj.lat, gcj.lng)
    assert haversine_m(case.lat, case.lng, back.lat, back.lng) < 0.01
    events = await cases.timeline(db, await actor(db, "seat1"), case.id)
    assert [e.action for e in events] == ["report", "close_on_spot"]
    handler = await sign_in(client, "handler1")
    assert (await client.post(f"{BASE}/reports", json=write(**{**body}), headers=handler)).status_code == 403
