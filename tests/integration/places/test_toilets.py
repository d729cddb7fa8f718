"""The toilet finder end to end: nearest first with filters, GCJ-02 in and out, live status (stale
marked stale), GB/T 17217 limits per class, the detail, feedback that becomes a case."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from backend.geo import haversine_m, wgs84_to_gcj02
from backend.models import Case
from backend.places import index
from tests.integration.places.places_support import CENTRE, MP, add_toilet, report, sign_in

NEARBY = f"{MP}/toilets/nearby"
CLOSED: dict[str, Any] = {"weekly": {}}  # no span on any day


async def nearby(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    query = {"lat": CENTRE[0], "lng": CENTRE[1], "coord": "wgs84", **params}
    response = await client.get(NEARBY, params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [item["code"] for item in body["items"]]


async def test_nearest_first_with_filters(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    await add_toilet(db, "T-A", 0, 100, level=1, accessible_stalls=1, baby_care=True, third_toilet=True)
    await add_toilet(db, "T-B", 90, 300, level=2, male_stalls=3, female_stalls=4)
    await add_toilet(db, "T-C", 180, 600, level=3, opening_hours=CLOSED)
    await add_toilet(db, "T-D", 270, 2500, level=2)  # outside the default 1000 m
    await db.commit()

    body = await nearby(client)
    assert codes(body) == ["T-A", "T-B", "T-C"]
    assert body["source"] == "redis" and body["live_available"] is True
    first, second, third = body["items"]
    assert [round(i["distance_m"], -1) for i in body["items"]] == [100, 300, 600]
    assert (second["walking_m"], second["walking_min"]) == (round(second["distance_m"] * 1.3), 5)  # 390 m at 80 m/min
    assert "1.3" in body["walking_note"] and "80" in body["walking_note"]
    assert (first["level"], first["level_name"], first["accessible"], first["third_toilet"]) == (1, "一类", True, True)
    assert (second["male_stalls"], second["female_stalls"]) == (3, 4)
    assert third["open_now"] is False and first["open_now"] is True

    assert codes(await nearby(client, radius_m=3000)) == ["T-A", "T-B", "T-C", "T-D"]
    assert codes(await nearby(client, limit=2)) == ["T-A", "T-B"]
    assert codes(await nearby(client, accessible="true")) == ["T-A"]
    assert codes(await nearby(client, baby_care="true")) == ["T-A"]
    assert codes(await nearby(client, third_toilet="true")) == ["T-A"]
    assert codes(await nearby(client, level=3)) == ["T-C"]
    assert codes(await nearby(client, open_now="true")) == ["T-A", "T-B"]

    # a free stall is known from fresh readings only
    await report(redis, "toilet", "T-A", free_stalls=0)
    await report(redis, "toilet", "T-B", free_stalls=2)
    await report(redis, "toilet", "T-C", free_stalls=5, age_s=3600)
    assert codes(await nearby(client, has_free_stall="true")) == ["T-B"]
    # a fresh "closed" from the device wins over the timetable
    await report(redis, "toilet", "T-A", open=False)
    assert codes(await nearby(client, open_now="true")) == ["T-B"]


async def test_gcj02_in_and_out(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    toilet = await add_toilet(db, "T-G", 45, 250)
    await db.commit()
    gcj = wgs84_to_gcj02(*CENTRE)
    response = await client.get(NEARBY, params={"lat": gcj.lat, "lng": gcj.lng})  # gcj02 is the default
    assert response.status_code == 200
    item = response.json()["items"][0]
    expected = wgs84_to_gcj02(toilet.lat, toilet.lng)
    assert item["coord"] == "gcj02"
    assert abs(item["lat"] - expected.lat) < 1e-6 and abs(item["lng"] - expected.lng) < 1e-6
    assert abs(item["distance_m"] - 250) <= 1
    plain = (await nearby(client))["items"][0]
    assert abs(plain["lat"] - toilet.lat) < 1e-6 and plain["coord"] == "wgs84"


async def test_stale_readings_are_marked_stale_never_live(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    toilet = await add_toilet(db, "T-S", 0, 50)
    await db.commit()
    taken = await report(redis, "toilet", "T-S", age_s=600, interval_s=60, free_stalls=3, nh3=0.2, open=True)
    status = (await nearby(client))["items"][0]["live"]
    assert status["live"] is False and status["reported"] is True
    assert status["free_stalls"] is None and status["odour"]["nh3_mg_m3"] is None and status["open"] is None
    assert status["stale_metrics"] == ["free_stalls", "nh3", "open"]
    stale_since = datetime.fromisoformat(status["stale_since"])
    assert abs(stale_since - (taken + timedelta(seconds=180))) < timedelta(milliseconds=2)
    assert status["stale_since"].endswith("+08:00")

    # a fresh reading of one metric: live, with only that value
    await report(redis, "toilet", "T-S", age_s=5, interval_s=60, free_stalls=1)
    status = (await nearby(client))["items"][0]["live"]
    assert status["live"] is True and status["stale_since"] is None
    assert status["free_stalls"] == 1 and status["stale_metrics"] == ["nh3", "open"]

    detail = await client.get(f"{MP}/toilets/{toilet.id}")
    assert detail.status_code == 200
    assert detail.json()["live"]["free_stalls"] == 1 and detail.json()["live"]["odour"]["nh3_mg_m3"] is None


async def test_odour_against_gb_t_17217_per_class(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    for n, level in enumerate((1, 2, 3), start=1):
        await add_toilet(db, f"T-O{level}", 0, 100 * n, level=level)
        await report(redis, "toilet", f"T-O{level}", nh3=0.5, h2s=0.005 if level < 3 else 0.02)
    await db.commit()
    items = (await nearby(client))["items"]
    odours = [(i["level"], i["live"]["odour"]) for i in items]
    assert [(lvl, o["nh3_limit_mg_m3"], o["nh3_ok"]) for lvl, o in odours] == [
        (1, 0.3, False),
        (2, 1.0, True),
        (3, 3.0, True),
    ]
    assert [(o["h2s_limit_mg_m3"], o["h2s_ok"]) for _, o in odours] == [(0.01, True), (0.01, True), (0.01, False)]
    assert [o["ok"] for _, o in odours] == [False, True, False]


async def test_detail_and_not_found(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    hours = {"weekly": {"mon": ["22:00-06:00"]}, "special": {"2099-01-01": []}}
    toilet = await add_toilet(db, "T-H", 0, 10, opening_hours=hours, free=False, fee_fen=50, address="江汉路1号")
    await db.commit()
    response = await client.get(f"{MP}/toilets/{toilet.id}", params={"coord": "wgs84"})
    assert response.status_code == 200
    body = response.json()
    assert body["opening_hours"]["weekly"]["mon"] == ["22:00-06:00"]
    assert body["opening_hours"]["weekly"]["tue"] == []
    assert body["opening_hours"]["text"].startswith("周一 22:00-06:00")
    assert body["special_days"] == [{"date": "2099-01-01", "hours": []}]
    assert (body["free"], body["fee_amount_fen"]) == (False, 50)
    assert body["live"]["reported"] is False and body["live_available"] is True
    missing = await client.get(f"{MP}/toilets/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "toilet_not_found"


async def test_feedback_becomes_a_case_at_the_toilet(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    toilet = await add_toilet(db, "T-F", 0, 10, address="江汉路2号")
    await db.commit()
    body = {"feedback_type": "异味", "description": "氨味很重，排风扇不转"}
    assert (await client.post(f"{MP}/toilets/{toilet.id}/feedback", json=body)).status_code == 401
    headers = await sign_in(client)
    response = await client.post(f"{MP}/toilets/{toilet.id}/feedback", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["category_code"] == "E0705" and created["number"]
    case = await db.scalar(select(Case).where(Case.id == uuid.UUID(created["id"])))
    assert case is not None
    assert case.category_code == "E0705" and case.source == "citizen"
    assert haversine_m(case.lat, case.lng, toilet.lat, toilet.lng) < 0.01
    assert case.answers == {"feedback_type": "异味", "toilet_id": "T-F"}
    assert "测试公厕 T-F" in case.address
    wrong = await client.post(f"{MP}/toilets/{toilet.id}/feedback", json={"feedback_type": "好"}, headers=headers)
    assert wrong.status_code == 400
    missing = await client.post(f"{MP}/toilets/{uuid.uuid4()}/feedback", json=body, headers=headers)
    assert missing.status_code == 404


async def test_after_commit_changes_reach_the_index(db: Any, redis: Any) -> None:
    from backend.toilets import service as toilets

    await toilets.nearby(db, redis, *CENTRE)  # builds the (flushed) index
    key = toilets.INDEX.geo_key
    toilet = await add_toilet(db, "T-I", 0, 100)
    await db.commit()
    await index.drain()
    assert (await redis.geopos(key, str(toilet.id)))[0] is not None
    token = await redis.get(toilets.INDEX.version_key)

    await toilets.update_toilet(db, toilet.id, name="改名公厕")
    await db.commit()
    await index.drain()
    assert await redis.get(toilets.INDEX.version_key) != token  # API processes reload the records
    hits = (await toilets.nearby(db, redis, *CENTRE)).items
    assert [h.toilet.name for h in hits] == ["改名公厕"]

    await toilets.delete_toilet(db, toilet.id)
    await db.commit()
    await index.drain()
    assert (await redis.geopos(key, str(toilet.id)))[0] is None

    ghost = await add_toilet(db, "T-R", 0, 100)
    await db.rollback()  # a change that never commits never reaches Redis
    await index.drain()
    assert (await redis.geopos(key, str(ghost.id)))[0] is None
