"""Public views without login: the anonymised map of cases, notices, categories."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from backend.geo import wgs84_to_gcj02
from backend.models import Case, Citizen
from tests.integration.miniprogram.mp_support import MP, gcj_point, grid_point, report_body, sign_in, upload_photo
from tests.photos import jpeg


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


async def test_the_public_map_leaks_no_personal_data(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    photo = await upload_photo(client, alice, jpeg(30.85, 114.81))
    body = await report_body(
        db,
        description="垃圾堆在门口，有事打我电话13912345678，身份证420117199001011234",
        address="新洲大道88号 联系人王先生 027-86912345",
        photos=[photo],
    )
    created = (await client.post(f"{MP}/reports", json=body, headers=alice)).json()
    citizen = await db.scalar(select(Citizen).where(Citizen.openid == "dev-openid-alice"))

    lat, lng = await gcj_point(db)
    response = await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, "radius_m": 300})
    assert response.status_code == 200, response.text
    document = response.json()
    item = next(i for i in document["items"] if i["id"] == created["id"])
    assert set(item) == {
        "id", "number", "category_code", "category_name", "status", "status_text", "lat", "lng", "coord",
        "distance_m", "description", "reported_at", "photos",
    }  # fmt: skip
    assert item["status"] == "open" and item["coord"] == "gcj02" and item["photos"] == [], "not checked yet"
    assert abs(item["lat"] - lat) < 1e-6 and item["distance_m"] < 1
    assert "139****5678" in item["description"] and "13912345678" not in item["description"]

    text = json.dumps(document, ensure_ascii=False)
    for secret in [
        str(citizen.id), citizen.openid, citizen.nickname, citizen.phone, "13912345678", "199001011234",
        "86912345", "王先生", photo, "private/",
    ]:  # fmt: skip
        assert secret not in text, f"{secret!r} leaked into the public map"
    keys = set(_strings(document))
    assert not keys & {"reporter_id", "reporter_kind", "reporter_phone", "phone", "openid", "address", "answers"}

    in_wgs = await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, "coord": "wgs84", "radius_m": 2000})
    assert in_wgs.status_code == 200


async def test_the_public_map_caps_radius_and_limit(client: httpx.AsyncClient, db: Any) -> None:
    lat, lng = await gcj_point(db)
    cases: list[dict[str, Any]] = [
        {"radius_m": 2001},
        {"limit": 101},
        {"radius_m": 0},
        {"status": "secret"},
        {"lat": 91},
    ]
    for params in cases:
        response = await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, **params})
        assert response.status_code == 400, params


async def test_the_public_map_finds_nearest_first_and_filters_status(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    wlat, wlng = await grid_point(db)
    near = (await client.post(f"{MP}/reports", json=await report_body(db), headers=alice)).json()
    far_point = wgs84_to_gcj02(wlat + 0.003, wlng)  # ~330 m north
    far = (
        await client.post(
            f"{MP}/reports", json=await report_body(db, lat=far_point.lat, lng=far_point.lng, category_code="E0102"),
            headers=alice,
        )
    ).json()  # fmt: skip
    lat, lng = await gcj_point(db)
    found = (await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, "radius_m": 1000})).json()["items"]
    ids = [i["id"] for i in found]
    assert ids.index(near["id"]) < ids.index(far["id"])
    close = (await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, "radius_m": 100})).json()["items"]
    assert far["id"] not in [i["id"] for i in close]

    case = await db.get(Case, uuid.UUID(near["id"]))
    case.state = "rejected"  # 作废 cases are never on the map
    await db.flush()
    everything = (
        await client.get(f"{MP}/map/cases", params={"lat": lat, "lng": lng, "radius_m": 1000, "status": "all"})
    ).json()["items"]
    assert near["id"] not in [i["id"] for i in everything]


async def test_notices_are_public(client: httpx.AsyncClient) -> None:
    page = await client.get(f"{MP}/notices")
    assert page.status_code == 200
    items = page.json()["items"]
    assert len(items) >= 2 and items[0]["pinned"] is True
    assert all(i["published_at"].endswith("+08:00") for i in items)
    first = await client.get(f"{MP}/notices", params={"limit": 1})
    second = await client.get(f"{MP}/notices", params={"limit": 1, "cursor": first.json()["next_cursor"]})
    assert second.json()["items"][0]["id"] == items[1]["id"]
    detail = await client.get(f"{MP}/notices/{items[0]['id']}")
    assert detail.status_code == 200 and "随手拍" in detail.json()["body"]
    assert (await client.get(f"{MP}/notices/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"{MP}/notices", params={"cursor": "garbage"})).status_code == 400


async def test_categories_with_their_questions(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{MP}/categories")
    assert response.status_code == 200
    items = {c["code"]: c for c in response.json()["items"]}
    manhole = items["C0101"]
    assert manhole["name"] == "上水井盖" and manhole["major_name"] == "公用设施"
    fell = next(q for q in manhole["questions"] if q["key"] == "someone_fell")
    assert fell["type"] == "bool" and fell["divert"]["to"] == "119" and fell["divert_when"] is True
    assert all(c["code"][0] in "CE" for c in items.values())
