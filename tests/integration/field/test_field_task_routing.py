"""Field tasks go to the grid's collector on shift, else the nearest collector on shift (Redis GEO)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from backend.cases import service as cases
from backend.cases.enums import CaseAction
from backend.field import jobs, live
from backend.field.tasks import route_field_task
from backend.geo import destination_point
from backend.models import CaseEvent, OutboxMessage
from tests.integration.field.field_support import (
    YANGLUO_GRID,
    ZHUCHENG_GRID,
    actor,
    add_collector,
    fresh,
    geocoder_of,
    grid_centre,
    now,
    put_on_shift,
    reported_case,
    sign_in,
    staff,
)


async def test_nearest_collector_on_shift_comes_from_redis_geo(redis: Any) -> None:
    import uuid

    lat, lng = 30.84, 114.80
    near, nearer, stale = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t = now()
    at_300 = destination_point(lat, lng, 90, 300)
    at_120 = destination_point(lat, lng, 200, 120)
    at_50 = destination_point(lat, lng, 0, 50)
    await live.put_position(redis, near, at_300.lat, at_300.lng, t)
    await live.put_position(redis, nearer, at_120.lat, at_120.lng, t)
    await live.put_position(redis, stale, at_50.lat, at_50.lng, t - timedelta(minutes=11))  # silent for 11 min

    found = await live.nearest_collector(redis, lat, lng, now=t, ttl_s=600)
    assert found is not None and found.staff_id == nearer
    assert abs(found.distance_m - 120) < 1
    ranked = await live.nearby_collectors(redis, lat, lng, now=t, ttl_s=600)
    assert [c.staff_id for c in ranked] == [nearer, near]
    assert await live.position_of(redis, stale) is None, "a stale position is swept out"

    await live.remove(redis, nearer)  # checked out
    after = await live.nearest_collector(redis, lat, lng, now=t)
    assert after is not None and after.staff_id == near
    # An older fix never overwrites a newer one (an offline batch arriving late).
    await live.put_position(redis, near, lat, lng, t - timedelta(minutes=5))
    pos = await live.position_of(redis, near)
    assert pos is not None and abs(pos[1] - at_300.lng) < 1e-5


async def test_a_task_nobody_is_responsible_for_goes_to_the_nearest_on_shift(
    client: httpx.AsyncClient, db: Any, redis: Any
) -> None:
    geocoder = await geocoder_of(db)
    case = await reported_case(db, geocoder, grid=YANGLUO_GRID)
    lat, lng = await grid_centre(db, YANGLUO_GRID)
    far_one = await add_collector(db, "collector-far")
    near_one = await add_collector(db, "collector-near")
    off_duty = await add_collector(db, "collector-off")
    for member in (far_one, near_one):
        await put_on_shift(db, member, [])
    far = destination_point(lat, lng, 90, 900)
    near = destination_point(lat, lng, 180, 200)
    nearest = destination_point(lat, lng, 0, 10)
    await live.put_position(redis, far_one.id, far.lat, far.lng, now())
    await live.put_position(redis, near_one.id, near.lat, near.lng, now())
    del off_duty, nearest  # off duty: never on the live map, however close

    await cases.step(db, await actor(db, "seat1"), case.id, CaseAction.verify_request)
    message = await db.scalar(
        select(OutboxMessage).where(
            OutboxMessage.topic == cases.FIELD_TASK_TOPIC, OutboxMessage.payload["case_id"].astext == str(case.id)
        )
    )
    assert message is not None and message.payload["state"] == "verifying"
    # The worker's job for that message (its Redis is the test's).
    jobs._redis = redis
    try:
        await jobs.route_field_task_job(db, dict(message.payload), message)
    finally:
        jobs._redis = None
    case = await fresh(db, case)
    assert case.field_assignee_id == near_one.id
    event = await db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "field_assign"))
    assert event.data["reason"] == "nearest_on_shift" and event.data["task"] == "verify"
    notify = await db.scalar(
        select(OutboxMessage).where(
            OutboxMessage.topic == "push.notify", OutboxMessage.payload["data"]["case_id"].astext == str(case.id)
        )
    )
    assert notify is not None and notify.payload["recipients"][0]["id"] == str(near_one.id)
    assert notify.payload["event"] == "task.assigned"

    # The chosen collector now has the case in their inbox (scope by assignment, not by grid).
    headers = await sign_in(client, "collector-near")
    items = (await client.get("/api/field/v1/tasks", params={"kind": "verify"}, headers=headers)).json()["items"]
    mine = next(i for i in items if i["case_id"] == str(case.id))
    assert mine["assigned_to_me"] is True
    other = await sign_in(client, "collector-far")
    assert (await client.get(f"/api/field/v1/tasks/{case.id}", headers=other)).status_code == 404


async def test_the_grids_own_collector_on_shift_comes_first(db: Any, redis: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await reported_case(db, geocoder, grid=ZHUCHENG_GRID)
    lat, lng = await grid_centre(db, ZHUCHENG_GRID)
    responsible = await staff(db, "collector1")
    await put_on_shift(db, responsible, [ZHUCHENG_GRID])
    passer_by = await add_collector(db, "collector-passing")
    await put_on_shift(db, passer_by, [])
    far = destination_point(lat, lng, 90, 2000)
    await live.put_position(redis, responsible.id, far.lat, far.lng, now())
    await live.put_position(redis, passer_by.id, lat, lng, now())  # standing right there

    await cases.step(db, await actor(db, "seat1"), case.id, CaseAction.verify_request)
    routing = await route_field_task(db, redis, case.id, expected_stage_seq=case.stage_seq)
    assert routing is not None and routing.collector_id == responsible.id
    assert routing.reason == "responsible_on_shift" and routing.distance_m is not None
    assert (await fresh(db, case)).field_assignee_id == responsible.id


async def test_nobody_on_shift_falls_back_to_the_grids_collector_and_late_jobs_do_nothing(db: Any, redis: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await reported_case(db, geocoder, grid=ZHUCHENG_GRID)
    await cases.step(db, await actor(db, "seat1"), case.id, CaseAction.verify_request)
    stage_seq = case.stage_seq
    routing = await route_field_task(db, redis, case.id, expected_stage_seq=stage_seq)
    assert routing is not None and routing.reason == "responsible"
    assert routing.collector_id == (await staff(db, "collector1")).id
    # The case moved on before a (duplicate, late) job ran: nothing happens.
    await cases.step(db, await actor(db, "collector1"), case.id, CaseAction.verify_done)
    assert await route_field_task(db, redis, case.id, expected_stage_seq=stage_seq) is None
    nobody = await reported_case(db, geocoder, grid=YANGLUO_GRID)
    await cases.step(db, await actor(db, "seat1"), nobody.id, CaseAction.verify_request)
    assert await route_field_task(db, redis, nobody.id) is None
