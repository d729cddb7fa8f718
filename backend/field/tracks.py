"""Patrol tracks (巡查轨迹): batched GPS uploads, stored compactly; playback and daily mileage (里程).

An upload of a few hundred points becomes one row per Asia/Shanghai day it covers (usually one) in
the month-partitioned ``patrol_tracks``, its points packed at 16 bytes each (``rules.pack_points``)
with the row's own distance and end points beside them — so a day's mileage is read from a few small
rows, and a playback unpacks a day's rows of one person. Absurd points are dropped first
(``rules.clean_track``); the last kept point of each person is remembered in Redis to catch a jump
across two uploads. A collector on shift is put on the live map (``backend.field.live``) at their
newest point.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from redis.asyncio import Redis
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.enums import Role
from backend.errors import NotFound, ValidationFailed
from backend.field import live
from backend.field.attendance import is_on_shift, visible_staff_id
from backend.field.partitions import TrackPartitions, month_of
from backend.field.rules import (
    TrackPoint,
    clean_track,
    day_bounds,
    local_day,
    pack_points,
    plausible_link,
    split_by_day,
    unpack_points,
)
from backend.field.settings import get_field_settings
from backend.geo import haversine_m
from backend.models import Staff, patrol_tracks

MAX_POINTS = 2000
MAX_MILEAGE_DAYS = 31
_LAST_TTL_S = 24 * 3600


def _last_key(staff_id: uuid.UUID) -> str:
    return f"field:track:last:{staff_id}"


async def _last_point(redis: Redis, staff_id: uuid.UUID) -> TrackPoint | None:
    raw = await redis.get(_last_key(staff_id))
    if not raw:
        return None
    ts, lat, lng = (float(v) for v in raw.decode().split(","))
    return TrackPoint(datetime.fromtimestamp(ts, UTC), lat, lng, 0.0)


async def _remember_last(redis: Redis, staff_id: uuid.UUID, point: TrackPoint) -> None:
    value = f"{point.ts.timestamp()},{point.lat},{point.lng}"
    await redis.set(_last_key(staff_id), value.encode(), ex=_LAST_TTL_S)


@dataclass
class UploadResult:
    accepted: int
    dropped: dict[str, int]
    live: bool


async def upload(
    session: AsyncSession,
    redis: Redis,
    partitions: TrackPartitions,
    staff: Staff,
    points: Sequence[TrackPoint],
    *,
    now: datetime,
) -> UploadResult:
    """Store one batch of WGS-84 points (every 10–30 s from the app, or a day's worth after being offline)."""
    if not 1 <= len(points) <= MAX_POINTS:
        raise ValidationFailed(f"between 1 and {MAX_POINTS} points per upload", code="invalid_points")
    previous = await _last_point(redis, staff.id)
    cleaned = clean_track(points, now=now, previous=previous)
    if not cleaned.kept:
        return UploadResult(0, cleaned.dropped, False)
    runs = split_by_day(cleaned.kept)
    await partitions.ensure({month_of(run[0].ts) for run in runs})
    rows = []
    for run in runs:
        started_at, blob = pack_points(run)
        rows.append(
            {
                "staff_id": staff.id,
                "started_at": started_at,
                "ended_at": run[-1].ts,
                "n_points": len(run),
                "distance_m": sum(haversine_m(a.lat, a.lng, b.lat, b.lng) for a, b in pairwise(run)),
                "first_lat": run[0].lat,
                "first_lng": run[0].lng,
                "last_lat": run[-1].lat,
                "last_lng": run[-1].lng,
                "points": blob,
                "received_at": now,
            }
        )
    await session.execute(insert(patrol_tracks), rows)
    newest = cleaned.kept[-1]
    shown = False
    if previous is None or newest.ts > previous.ts:
        await _remember_last(redis, staff.id, newest)
        fresh = (now - newest.ts).total_seconds() <= get_field_settings().live_ttl_s
        if fresh and Role.collector.value in staff.roles and await is_on_shift(session, staff.id, now):
            await live.put_position(redis, staff.id, newest.lat, newest.lng, newest.ts)
            shown = True
    return UploadResult(len(cleaned.kept), cleaned.dropped, shown)


@dataclass
class Playback:
    """轨迹回放 — one person's points of one local day, with distance and duration."""

    staff_id: uuid.UUID
    day: date
    points: list[TrackPoint]
    distance_m: float
    duration_s: int


def _day_track(points: list[TrackPoint]) -> tuple[list[TrackPoint], float]:
    """Time-ordered, one point per instant, and the distance over plausible links (a link implying an
    impossible speed — two uploads stored out of order that disagree — does not count)."""
    ordered: list[TrackPoint] = []
    for p in sorted(points, key=lambda p: p.ts):
        if ordered and ordered[-1].ts == p.ts:
            continue
        ordered.append(p)
    distance = sum(haversine_m(a.lat, a.lng, b.lat, b.lng) for a, b in pairwise(ordered) if plausible_link(a, b))
    return ordered, distance


async def _existing_staff(session: AsyncSession, staff_id: uuid.UUID) -> None:
    if await session.get(Staff, staff_id) is None:
        raise NotFound("no such staff member", code="staff_not_found")


async def playback(session: AsyncSession, viewer: Staff, staff_id: uuid.UUID, day: date) -> Playback:
    """A day's track of ``staff_id``: one's own, or anyone's for a supervisor (else 404)."""
    who = visible_staff_id(viewer, staff_id)
    assert who is not None
    await _existing_staff(session, who)
    start, end = day_bounds(day)
    rows = await session.execute(
        select(patrol_tracks.c.started_at, patrol_tracks.c.points)
        .where(
            patrol_tracks.c.staff_id == who,
            patrol_tracks.c.started_at >= start,
            patrol_tracks.c.started_at < end,
        )
        .order_by(patrol_tracks.c.started_at)
    )
    points = [p for started_at, blob in rows.all() for p in unpack_points(started_at, blob)]
    ordered, distance = _day_track(points)
    duration = int((ordered[-1].ts - ordered[0].ts).total_seconds()) if ordered else 0
    return Playback(who, day, ordered, round(distance, 1), duration)


async def daily_mileage(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID] | None, day_from: date, day_to: date
) -> dict[tuple[uuid.UUID, date], float]:
    """每日里程 — metres per (staff member, local day), from the rows' own distances plus the links
    between consecutive rows; ``staff_ids`` None means everyone."""
    if staff_ids is not None and not staff_ids:
        return {}
    start, _ = day_bounds(day_from)
    _, end = day_bounds(day_to)
    t = patrol_tracks.c
    stmt = select(
        t.staff_id, t.started_at, t.ended_at, t.distance_m, t.first_lat, t.first_lng, t.last_lat, t.last_lng
    ).where(t.started_at >= start, t.started_at < end)
    if staff_ids is not None:
        stmt = stmt.where(t.staff_id.in_(list(staff_ids)))
    grouped: dict[tuple[uuid.UUID, date], list[tuple[object, ...]]] = defaultdict(list)
    for row in (await session.execute(stmt.order_by(t.staff_id, t.started_at))).all():
        grouped[(row.staff_id, local_day(row.started_at))].append(tuple(row))
    totals: dict[tuple[uuid.UUID, date], float] = {}
    for key, pieces in grouped.items():
        total = 0.0
        prev: TrackPoint | None = None
        for _, started_at, ended_at, distance, f_lat, f_lng, l_lat, l_lng in pieces:
            first = TrackPoint(started_at, f_lat, f_lng, 0.0)  # type: ignore[arg-type]
            if prev is not None and plausible_link(prev, first):
                total += haversine_m(prev.lat, prev.lng, first.lat, first.lng)
            total += float(distance)  # type: ignore[arg-type]
            prev = TrackPoint(ended_at, l_lat, l_lng, 0.0)  # type: ignore[arg-type]
        totals[key] = round(total, 1)
    return totals


@dataclass
class MileageRow:
    staff_id: uuid.UUID
    day: date
    distance_m: float


async def mileage(
    session: AsyncSession, viewer: Staff, *, day_from: date, day_to: date, staff_id: uuid.UUID | None = None
) -> list[MileageRow]:
    """Daily mileage over a range: one's own, or a supervisor's choice (everyone when ``staff_id`` is None)."""
    if day_to < day_from or day_to - day_from >= timedelta(days=MAX_MILEAGE_DAYS):
        raise ValidationFailed(f"a range of 1 to {MAX_MILEAGE_DAYS} days", code="invalid_range")
    who = visible_staff_id(viewer, staff_id)
    if who is not None:
        await _existing_staff(session, who)
    totals = await daily_mileage(session, None if who is None else [who], day_from, day_to)
    return [MileageRow(s, d, m) for (s, d), m in sorted(totals.items(), key=lambda kv: (kv[0][1], str(kv[0][0])))]
