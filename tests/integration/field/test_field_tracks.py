"""Patrol tracks: batched uploads stored compactly in month partitions, absurd points dropped,
playback with distance within 1 % of the hand-computed value, mileage, live position on shift."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from backend.field import live
from backend.field.partitions import SCHEMA, TrackPartitions, month_of, partition_name
from backend.field.rules import TrackPoint, local_day
from backend.field.tracks import playback, upload
from backend.geo import EARTH_RADIUS_M, destination_point, wgs84_to_gcj02
from backend.models import patrol_tracks
from backend.worktime import SHANGHAI
from tests.integration.field.field_support import (
    ZHUCHENG_GRID,
    grid_centre,
    new_client_id,
    now,
    put_on_shift,
    sign_in,
    staff,
)

BASE = "/api/field/v1"
STEP_DEG = 0.0002  # along a meridian: 22.239 m a step, exactly R·Δφ on the sphere
STEP_M = EARTH_RADIUS_M * math.radians(STEP_DEG)


def patrol_morning() -> datetime:
    """10:00 in Shanghai today, or yesterday if that is not yet well past — a fixed day for the track."""
    local = datetime.now(UTC).astimezone(SHANGHAI)
    base = local.replace(hour=10, minute=0, second=0, microsecond=0)
    if base > local - timedelta(minutes=30):
        base -= timedelta(days=1)
    return base.astimezone(UTC)


def walk(start: datetime, lat: float, lng: float, n: int, *, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "ts": (start + timedelta(seconds=15 * i)).isoformat(),
            "lat": lat + STEP_DEG * i,
            "lng": lng,
            "accuracy": 8.5,
            "speed": 1.4,
        }
        for i in range(first, first + n)
    ]


def batch(points: list[dict[str, Any]], coord: str = "wgs84") -> dict[str, Any]:
    return {"client_id": new_client_id(), "client_ts": now().isoformat(), "coord": coord, "points": points}


async def test_upload_store_and_play_back(client: httpx.AsyncClient, db: Any) -> None:
    collector = await staff(db, "collector1")
    headers = await sign_in(client, "collector1")
    lat, lng = await grid_centre(db, ZHUCHENG_GRID)
    start = patrol_morning()
    first = walk(start, lat, lng, 20)
    absurd = [
        {"ts": (start + timedelta(seconds=7)).isoformat(), "lat": lat, "lng": lng, "accuracy": 150.0},  # 150 m
        {"ts": (start + timedelta(seconds=100)).isoformat(), "lat": lat + 0.05, "lng": lng, "accuracy": 5.0},  # jump
    ]
    response = await client.post(f"{BASE}/tracks", json=batch(first + absurd), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 20
    assert response.json()["dropped"] == {"inaccurate": 1, "jump": 1}
    # The next batch continues the walk (a gap of one 15 s step between the batches).
    second = walk(start, lat, lng, 20, first=20)
    assert (await client.post(f"{BASE}/tracks", json=batch(second), headers=headers)).json()["accepted"] == 20

    # Compact: one row per batch, 16 bytes a point, in this month's partition.
    rows = (
        await db.execute(
            select(patrol_tracks.c.n_points, func.length(patrol_tracks.c.points), patrol_tracks.c.distance_m).where(
                patrol_tracks.c.staff_id == collector.id
            )
        )
    ).all()
    assert sorted(r[0] for r in rows) == [20, 20]
    assert all(size == 1 + 16 * n for n, size, _ in rows)
    assert all(d == pytest.approx(19 * STEP_M, rel=1e-6) for *_, d in rows)
    part = await db.scalar(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = 'patrol_tracks'::regclass AND n.nspname = :schema AND c.relname = :name"
        ),
        {"schema": SCHEMA, "name": partition_name(month_of(start))},
    )
    assert part == partition_name(month_of(start))

    day = local_day(start)
    played = await client.get(
        f"{BASE}/tracks/{collector.id}/{day.isoformat()}", params={"coord": "wgs84"}, headers=headers
    )
    assert played.status_code == 200, played.text
    body = played.json()
    hand_computed = 39 * STEP_M  # 40 points on one meridian
    assert body["point_count"] == 40
    assert body["distance_m"] == pytest.approx(hand_computed, rel=0.01)
    assert body["duration_s"] == 39 * 15
    assert body["points"][0]["lat"] == pytest.approx(lat, abs=1e-7) and body["points"][0]["speed"] == 1.4
    gcj = (await client.get(f"{BASE}/tracks/{collector.id}/{day.isoformat()}", headers=headers)).json()
    expected = wgs84_to_gcj02(lat, lng)
    assert gcj["coord"] == "gcj02" and gcj["points"][0]["lat"] == pytest.approx(expected.lat, abs=1e-6)

    mileage = await client.get(f"{BASE}/tracks/mileage", params={"from": day.isoformat()}, headers=headers)
    assert mileage.status_code == 200
    [row] = mileage.json()["items"]
    assert row["distance_m"] == pytest.approx(body["distance_m"], abs=0.5)


async def test_playback_distance_matches_a_hand_computed_route(db: Any, redis: Any, engine: Any) -> None:
    """Round a block: four legs of 300 m (15 steps of 20 m, a point every 15 s): 1200 m within 1 %."""
    collector = await staff(db, "collector1")
    start = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday
    here = destination_point(30.84, 114.80, 0, 0)
    points, t = [TrackPoint(start, here.lat, here.lng, 6.0, 1.3)], start
    for bearing in (0, 90, 180, 270):
        for _ in range(15):
            here = destination_point(here.lat, here.lng, bearing, 20.0)
            t += timedelta(seconds=15)
            points.append(TrackPoint(t, here.lat, here.lng, 6.0, 1.3))
    result = await upload(db, redis, TrackPartitions(engine), collector, points, now=start + timedelta(hours=1))
    assert result.accepted == 61 and result.dropped == {}
    track = await playback(db, collector, collector.id, local_day(start))
    assert track.distance_m == pytest.approx(4 * 300.0, rel=0.01)
    assert track.duration_s == 60 * 15 and len(track.points) == 61


async def test_an_old_offline_upload_gets_its_month_partition_on_demand(db: Any, redis: Any, engine: Any) -> None:
    collector = await staff(db, "collector1")
    at = now() - timedelta(days=30)
    month = month_of(at)
    pts = [TrackPoint(at + timedelta(seconds=15 * i), 30.84 + 0.0001 * i, 114.8, 5.0) for i in range(3)]
    done = await upload(db, redis, TrackPartitions(engine), collector, pts, now=now())
    assert done.accepted == 3
    async with engine.connect() as conn:
        from backend.field.partitions import existing_partitions

        assert month in await existing_partitions(conn)


async def test_tracks_of_others_are_for_supervisors_only(client: httpx.AsyncClient, db: Any) -> None:
    officer = await staff(db, "officer1")
    day = local_day(now()).isoformat()
    mine = await sign_in(client, "collector1")
    assert (await client.get(f"{BASE}/tracks/{officer.id}/{day}", headers=mine)).status_code == 404
    assert (
        await client.get(f"{BASE}/tracks/mileage", params={"from": day, "staff_id": str(officer.id)}, headers=mine)
    ).status_code == 404
    lead = await sign_in(client, "lead1")
    assert (await client.get(f"{BASE}/tracks/{officer.id}/{day}", headers=lead)).status_code == 200


async def test_a_collector_on_shift_appears_on_the_live_map(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    collector = await staff(db, "collector1")
    headers = await sign_in(client, "collector1")
    lat, lng = await grid_centre(db, ZHUCHENG_GRID)
    t = now() - timedelta(seconds=30)
    off = await client.post(f"{BASE}/tracks", json=batch(walk(t - timedelta(minutes=1), lat, lng, 2)), headers=headers)
    assert off.json()["live"] is False, "not on shift: not offered tasks"
    assert await live.position_of(redis, collector.id) is None
    await put_on_shift(db, collector, [ZHUCHENG_GRID])
    on = await client.post(f"{BASE}/tracks", json=batch(walk(t, lat, lng, 2)), headers=headers)
    assert on.json()["live"] is True
    nearest = await live.nearest_collector(redis, lat, lng)
    assert nearest is not None and nearest.staff_id == collector.id
