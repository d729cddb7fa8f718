"""Offline sync: a batch applied in order, once however often it is sent; conflicts reported with the
case's current state; invalid items rejected without stopping the batch."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select

from backend.cases import service as cases
from backend.cases.enums import CaseAction
from backend.db import create_session_factory
from backend.field import ops
from backend.field.partitions import TrackPartitions
from backend.field.tasks import field_actor
from backend.geo import CoordSystem
from backend.models import CaseEvent, FieldClientOp, patrol_tracks
from backend.org.tokens import StaffClaims
from tests.integration.field.field_support import (
    actor,
    dispatched_case,
    disposed_case,
    fresh,
    geocoder_of,
    grid_centre,
    new_client_id,
    now,
    sign_in,
    staff,
)

SYNC = "/api/field/v1/sync"


def item(kind: str, payload: dict[str, Any], minutes_ago: int = 30) -> dict[str, Any]:
    return {
        "client_id": new_client_id(),
        "client_ts": (now() - timedelta(minutes=minutes_ago)).isoformat(),
        "kind": kind,
        "payload": payload,
    }


async def _events(db: Any, case_id: Any, action: str) -> int:
    return int(
        await db.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action)
        )
    )


async def test_a_batch_sent_twice_is_applied_once(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    handler = await staff(db, "handler1")
    headers = await sign_in(client, "handler1", device_id="pad-handler1")
    lat, lng = await grid_centre(db, "420117001001001")
    t = now() - timedelta(minutes=20)
    points = [
        {"ts": (t + timedelta(seconds=15 * i)).isoformat(), "lat": lat + 0.0001 * i, "lng": lng, "accuracy": 9.0}
        for i in range(5)
    ]
    items = [
        item("case.take", {"case_id": str(case.id), "note": "离线签收"}),
        item("case.extension", {"case_id": str(case.id), "amount": 2, "unit": "working_hours", "reason": "等材料"}),
        item("track.upload", {"coord": "wgs84", "points": points}),
    ]
    first = await client.post(SYNC, json={"items": items}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["outcome"] for r in body["results"]] == ["applied", "applied", "applied"]
    assert (body["applied"], body["duplicate"], body["conflict"], body["rejected"]) == (3, 0, 0, 0)
    assert body["results"][0]["result"]["state"] == "disposing", "in order: take before the extension"
    assert body["results"][1]["result"]["extension_pending"] is True
    assert body["results"][2]["result"]["accepted"] == 5

    second = await client.post(SYNC, json={"items": items}, headers=headers)
    assert second.status_code == 200
    again = second.json()
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "duplicate", "duplicate"]
    for original, replay in zip(body["results"], again["results"], strict=True):
        assert replay["result"] == {**original["result"], "replayed": True}
    assert await _events(db, case.id, "take") == 1
    assert await _events(db, case.id, "request_extension") == 1
    stored = await db.scalar(select(func.sum(patrol_tracks.c.n_points)).where(patrol_tracks.c.staff_id == handler.id))
    assert stored == 5
    receipts = await db.scalar(
        select(func.count()).select_from(FieldClientOp).where(FieldClientOp.staff_id == handler.id)
    )
    assert receipts == 3


async def test_conflict_reports_the_current_state(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await disposed_case(db, geocoder)
    headers = await sign_in(client, "collector1")
    # While the collector was offline, the shift lead closed the case.
    await cases.step(db, await actor(db, "lead1"), case.id, CaseAction.close)
    offline_check = item("case.check", {"case_id": str(case.id), "passed": True, "note": "已清理干净"}, 90)
    response = await client.post(SYNC, json={"items": [offline_check]}, headers=headers)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["outcome"] == "conflict" and result["result"] is None
    assert result["error"]["code"] == "invalid_transition"
    assert result["error"]["details"]["current"]["state"] == "closed"
    assert result["error"]["details"]["current"]["case_id"] == str(case.id)
    assert (await fresh(db, case)).state == "closed"
    # A conflict is not remembered as done: nothing to replay, nothing kept.
    assert await db.get(FieldClientOp, ((await staff(db, "collector1")).id, offline_check["client_id"])) is None


async def test_items_are_judged_one_by_one(client: httpx.AsyncClient, db: Any) -> None:
    geocoder = await geocoder_of(db)
    case = await dispatched_case(db, geocoder)
    elsewhere = await dispatched_case(db, geocoder, grid="420117005001001", category="E0502")  # 执法局's
    headers = await sign_in(client, "handler1")
    extension_first = item(
        "case.extension", {"case_id": str(case.id), "amount": 1, "unit": "working_days", "reason": "x"}
    )
    take = item("case.take", {"case_id": str(case.id)})
    items = [
        extension_first,  # before the take: the case is not being disposed yet
        take,
        item("case.take", {"case_id": str(elsewhere.id)}),  # another department's case
        item("case.take", {"note": "no case id"}),  # invalid payload
        item("case.teleport", {"case_id": str(case.id)}),  # unknown kind
        {**take, "payload": {"case_id": str(case.id), "note": "changed"}},  # same client id, other body
        item("inspection.create", {"place": "x", "object_name": "y", "checklist": [{"item": "a", "passed": True}]}),
    ]
    response = await client.post("/api/field/v1/sync", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == [
        "conflict", "applied", "rejected", "rejected", "rejected", "rejected", "applied",
    ]  # fmt: skip
    assert results[0]["error"]["details"]["current"]["state"] == "dispatched"
    assert results[2]["error"]["code"] == "case_not_found"
    assert results[3]["error"]["code"] == "validation_failed"
    assert results[4]["error"]["code"] == "unknown_kind"
    assert results[5]["error"]["code"] == "client_id_reused"
    assert (await fresh(db, case)).state == "disposing"
    assert (await fresh(db, elsewhere)).state == "dispatched"


async def test_sync_is_for_field_staff_and_batches_are_bounded(client: httpx.AsyncClient) -> None:
    seat = await sign_in(client, "seat1")
    assert (await client.post(SYNC, json={"items": [item("case.take", {})]}, headers=seat)).status_code == 403
    headers = await sign_in(client, "handler1")
    assert (await client.post(SYNC, json={"items": []}, headers=headers)).status_code == 400
    too_many = [item("case.take", {}) for _ in range(201)]
    assert (await client.post(SYNC, json={"items": too_many}, headers=headers)).status_code == 400


async def test_the_same_batch_racing_itself_is_applied_once(
    engine: Any, seeded: bool, runtime: Any, redis: Any
) -> None:
    """Two copies of one write on two connections at once: the receipt's key makes the second wait for
    the first, then find it — one applied, one duplicate, the points stored once."""
    factory = create_session_factory(engine)
    async with factory() as s:
        member = await staff(s, "collector1")
    claims = StaffClaims(member.id, frozenset(member.roles), member.department_id, None)
    t0 = now() - timedelta(hours=3, seconds=random.randrange(3600))  # a time of this test's own
    payload = ops.TrackOp(
        coord=CoordSystem.WGS84,
        points=[ops.GpsPoint(ts=t0 + timedelta(seconds=15 * i), lat=30.85 + 0.0001 * i, lng=114.79, accuracy=5.0)
                for i in range(4)],
    )  # fmt: skip
    client_id = new_client_id()
    partitions = TrackPartitions(engine)
    barrier = asyncio.Barrier(2)

    async def attempt() -> str:
        async with factory() as s:
            who, actor_ = await field_actor(s, claims)
            ctx = ops.FieldContext(s, redis, runtime.storage, partitions, who, actor_, now())
            await barrier.wait()
            outcome, _ = await ops.apply(ctx, ops.OpKind.track_upload, client_id, now(), payload)
            await s.commit()
            return outcome.value

    try:
        outcomes = await asyncio.gather(attempt(), attempt())
        assert sorted(outcomes) == ["applied", "duplicate"]
        async with factory() as s:
            stored = await s.scalar(
                select(func.sum(patrol_tracks.c.n_points)).where(
                    patrol_tracks.c.staff_id == member.id, patrol_tracks.c.started_at == t0
                )
            )
        assert stored == 4
    finally:
        async with factory() as s:
            await s.execute(
                patrol_tracks.delete().where(patrol_tracks.c.staff_id == member.id, patrol_tracks.c.started_at == t0)
            )
            await s.execute(
                delete(FieldClientOp).where(FieldClientOp.staff_id == member.id, FieldClientOp.client_id == client_id)
            )
            await s.commit()
