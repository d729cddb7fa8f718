"""The toilet finder (公厕查找): toilets and their editing, import, the demo city's toilets; the nearby
search with live status; a toilet's detail; feedback that becomes a case.

Services flush; the caller (request boundary, CLI, job) commits. Every create, update and delete stages
its change to the nearby index (``backend/places/index.py``), applied after the commit.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import live
from backend.cases.service import IntakeResult
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.errors import NotFound, ValidationFailed
from backend.geo import BBox, GridGeocoder
from backend.models import Department, Grid, Toilet
from backend.places import service as places
from backend.places.index import PlaceIndex, SearchResult, SessionSource
from backend.places.live_cache import LiveCache
from backend.places.rules import InvalidHours, OpeningHours, Walk, walking
from backend.storage import StorageService
from backend.toilets.enums import ToiletLevel
from backend.toilets.rules import (
    ToiletFilters,
    ToiletInfo,
    ToiletLive,
    is_open_now,
    live_status,
    live_until,
    matches_facilities,
    matches_live,
)
from backend.worktime import SHANGHAI

LIVE_KIND = "toilet"  # the devices' object kind; their object id is the toilet's code
FEEDBACK_CATEGORY = "E0705"  # 公厕服务反馈
FEEDBACK_TYPES = ("卫生状况", "设施损坏", "未按时开放", "异味", "无障碍或第三卫生间不可用", "其他")
MAX_RADIUS_M = 5000
MAX_LIMIT = 50
MAX_STALLS = 500
LEVEL_NAMES = {"一类": 1, "二类": 2, "三类": 3, "1": 1, "2": 2, "3": 3}


# --- the in-memory record and the index -----------------------------------------------------------------


def _info(row: Toilet, department_name: str | None) -> ToiletInfo:
    return ToiletInfo(
        id=str(row.id),
        code=row.code,
        name=row.name,
        address=row.address,
        lat=row.lat,
        lng=row.lng,
        level=ToiletLevel(row.level),
        hours=(hours := OpeningHours.from_json(row.opening_hours)),
        hours_text=hours.describe(),
        free=row.free,
        fee_fen=row.fee_fen,
        male_stalls=row.male_stalls,
        female_stalls=row.female_stalls,
        accessible_stalls=row.accessible_stalls,
        third_toilet=row.third_toilet,
        baby_care=row.baby_care,
        department_name=department_name,
    )


def _select() -> Any:
    return select(Toilet, Department.name).outerjoin(Department, Department.id == Toilet.department_id)


async def _load_all(session: AsyncSession) -> list[ToiletInfo]:
    return [_info(t, d) for t, d in (await session.execute(_select())).all()]


async def _load_box(session: AsyncSession, box: BBox) -> list[ToiletInfo]:
    stmt = _select().where(Toilet.lat.between(box.min_lat, box.max_lat), Toilet.lng.between(box.min_lng, box.max_lng))
    return [_info(t, d) for t, d in (await session.execute(stmt)).all()]


INDEX: PlaceIndex[ToiletInfo] = PlaceIndex("toilet", _load_all, _load_box)


# --- editing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToiletInput:
    """A toilet as an administrator (or an import) gives it; coordinates in WGS-84; ``opening_hours``
    in the JSON form of ``backend/places/rules.py`` (None: around the clock)."""

    code: str
    name: str
    lat: float
    lng: float
    level: int = 2
    address: str = ""
    opening_hours: Mapping[str, Any] | None = None
    free: bool = True
    fee_fen: int = 0
    male_stalls: int = 0
    female_stalls: int = 0
    accessible_stalls: int = 0
    third_toilet: bool = False
    baby_care: bool = False
    department_id: uuid.UUID | None = None
    note: str = ""


def _columns(data: ToiletInput) -> dict[str, Any]:
    """The checked column values of a toilet (raises ``ValidationFailed`` naming what is wrong)."""
    lat, lng = places.check_point(data.lat, data.lng)
    if data.level not in (1, 2, 3):
        raise ValidationFailed("level is 1, 2 or 3 (一类/二类/三类)", code="invalid_level")
    for name in ("male_stalls", "female_stalls", "accessible_stalls"):
        value = getattr(data, name)
        if not isinstance(value, int) or not 0 <= value <= MAX_STALLS:
            raise ValidationFailed(f"{name} is 0 … {MAX_STALLS}", code="invalid_stalls")
    if data.free and data.fee_fen:
        raise ValidationFailed("a free toilet has no fee", code="invalid_fee")
    if not 0 <= data.fee_fen <= 10_000:
        raise ValidationFailed("fee_fen is 0 … 10000", code="invalid_fee")
    hours = OpeningHours.from_json(data.opening_hours).to_json() if data.opening_hours else {}
    return {
        "code": places.check_code(data.code, "toilet"),
        "name": places.check_name(data.name, "toilet"),
        "address": (data.address or "").strip()[:200],
        "lat": lat,
        "lng": lng,
        "level": data.level,
        "opening_hours": hours,
        "free": bool(data.free),
        "fee_fen": 0 if data.free else data.fee_fen,
        "male_stalls": data.male_stalls,
        "female_stalls": data.female_stalls,
        "accessible_stalls": data.accessible_stalls,
        "third_toilet": bool(data.third_toilet),
        "baby_care": bool(data.baby_care),
        "department_id": data.department_id,
        "note": (data.note or "").strip()[:500],
    }


async def get_toilet(session: AsyncSession, toilet_id: uuid.UUID | str) -> Toilet:
    """A toilet by id or by code."""
    try:
        key = uuid.UUID(str(toilet_id))
        toilet = await session.get(Toilet, key)
    except ValueError:
        toilet = await session.scalar(select(Toilet).where(Toilet.code == str(toilet_id)))
    if toilet is None:
        raise NotFound("no such toilet", code="toilet_not_found")
    return toilet


EDITOR = places.PlaceEditor(
    Toilet, ToiletInput, columns=_columns, find=get_toilet, index=INDEX, what="toilet", code_taken="toilet_code_taken"
)
EDITABLE = EDITOR.editable


async def create_toilet(session: AsyncSession, data: ToiletInput) -> Toilet:
    return await EDITOR.create(session, data)


async def update_toilet(session: AsyncSession, toilet_id: uuid.UUID | str, **changes: Any) -> Toilet:
    """Change some fields (the names of ``ToiletInput``); the whole toilet is checked again."""
    return await EDITOR.update(session, toilet_id, changes)


async def delete_toilet(session: AsyncSession, toilet_id: uuid.UUID | str) -> None:
    await EDITOR.delete(session, await get_toilet(session, toilet_id))


# --- the finder -----------------------------------------------------------------------------------------


class ToiletHit(NamedTuple):
    toilet: ToiletInfo
    distance_m: float
    live: ToiletLive
    open_now: bool

    @property
    def walk(self) -> Walk:
        return walking(self.distance_m)


@dataclass(frozen=True)
class NearbyToilets:
    """``source`` says where the positions came from; without Redis there is no live status
    (``live_available`` false) and filters on it (a free stall) match nothing."""

    items: list[ToiletHit]
    source: str
    live_available: bool


_STATUS_CACHE_MAX = 100_000
# code → (the state it was computed from, level, computed at, valid until, status): the status of a
# toilet stays the same while its state object (from the live cache) does, until a metric goes stale.
_statuses: dict[str, tuple[live.LiveState | None, int, datetime, datetime | None, ToiletLive]] = {}


def _status(info: ToiletInfo, state: live.LiveState | None, now: datetime) -> ToiletLive:
    hit = _statuses.get(info.code)
    if (
        hit is not None
        and hit[0] is state
        and hit[1] == info.level
        and hit[2] <= now
        and (hit[3] is None or now <= hit[3])
    ):
        return hit[4]
    status = live_status(info.level, state, now)
    if len(_statuses) > _STATUS_CACHE_MAX:
        _statuses.clear()
    _statuses[info.code] = (state, info.level, now, live_until(state, now), status)
    return status


LIVE = LiveCache(LIVE_KIND)
NO_FILTERS = ToiletFilters()
SEARCH_SPARE = 10  # places asked of Redis beyond the limit, so ties and rounding rarely need a second search


async def nearby(
    session: SessionSource,
    redis: Redis,
    lat: float,
    lng: float,
    *,
    radius_m: float = 1000,
    limit: int = 20,
    filters: ToiletFilters = ToiletFilters(),
    now: datetime | None = None,
) -> NearbyToilets:
    """Toilets within ``radius_m`` of a WGS-84 point, nearest first, matching ``filters``, with their
    live status."""
    now = now or datetime.now(UTC)
    radius_m = min(max(radius_m, 1.0), MAX_RADIUS_M)
    limit = min(max(limit, 1), MAX_LIMIT)
    # Unfiltered, the nearest ``limit`` are the answer: ask Redis for those (and a few to spare) rather
    # than for every toilet within the radius, and search again in full if that was not enough.
    count = limit + SEARCH_SPARE if filters == NO_FILTERS else None
    found = await INDEX.search(session, redis, lat, lng, radius_m, count=count)
    items, live_ok = await _pick(redis, found, limit, filters, now)
    if found.beyond_m is not None and (len(items) < limit or items[-1].distance_m > found.beyond_m):
        found = await INDEX.search(session, redis, lat, lng, radius_m)
        items, live_ok = await _pick(redis, found, limit, filters, now)
    return NearbyToilets(items, found.source, live_ok)


async def _pick(
    redis: Redis, found: SearchResult[ToiletInfo], limit: int, filters: ToiletFilters, now: datetime
) -> tuple[list[ToiletHit], bool]:
    hits = found.hits
    if filters.accessible or filters.baby_care or filters.third_toilet or filters.levels:
        hits = [h for h in hits if matches_facilities(h.place, filters)]
    on_the_moment = filters.open_now or filters.has_free_stall
    live_ok = found.source == "redis"
    local = now.astimezone(SHANGHAI)  # opening hours are judged at this one instant for every place
    items: list[ToiletHit] = []
    position = 0
    while len(items) < limit and position < len(hits):
        # Filters on the moment drop some: read the live state of a few more than still needed.
        wanted = limit - len(items)
        chunk = hits[position : position + (wanted * 2 if on_the_moment else wanted)]
        position += len(chunk)
        states: Mapping[str, live.LiveState | None] = {}
        if live_ok:
            try:
                states = await LIVE.get_many(redis, [h.place.code for h in chunk], now)
            except RedisError:
                live_ok = False
        for distance_m, _, info in chunk:
            status = _status(info, states.get(info.code), now)
            open_now = is_open_now(info.hours, status, local)
            if not on_the_moment or matches_live(filters, status, open_now):
                items.append(ToiletHit(info, distance_m, status, open_now))
                if len(items) == limit:
                    break
    return items, live_ok


@dataclass(frozen=True)
class ToiletView:
    toilet: ToiletInfo
    live: ToiletLive
    open_now: bool
    live_available: bool
    special_days: dict[date, str]


async def detail(
    session: AsyncSession, redis: Redis, toilet_id: uuid.UUID | str, *, now: datetime | None = None
) -> ToiletView:
    now = now or datetime.now(UTC)
    toilet = await get_toilet(session, toilet_id)
    department = await session.get(Department, toilet.department_id) if toilet.department_id else None
    info = _info(toilet, department.name if department else None)
    live_ok = True
    try:
        state = await live.get_state(redis, LIVE_KIND, info.code, now=now)
    except RedisError:
        state, live_ok = None, False
    status = live_status(info.level, state, now)
    upcoming = {
        day: "、".join(s.text() for s in spans) if spans else "不开放"
        for day, spans in sorted(info.hours.special.items())
        if day >= now.date()
    }
    return ToiletView(info, status, is_open_now(info.hours, status, now), live_ok, upcoming)


# --- feedback -------------------------------------------------------------------------------------------


async def submit_feedback(
    session: AsyncSession,
    storage: StorageService,
    geocoder: GridGeocoder,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    toilet_id: uuid.UUID | str,
    *,
    feedback_type: str,
    description: str = "",
    photo_keys: Sequence[str] = (),
) -> IntakeResult:
    """公厕服务反馈 — a citizen's feedback on a toilet becomes a case (E0705) at the toilet, through
    the same intake as any report (text check, photos, similar cases, dispatch)."""
    toilet = await get_toilet(session, toilet_id)
    places.check_feedback_type(feedback_type, FEEDBACK_TYPES)
    return await places.report_at(
        session,
        storage,
        geocoder,
        provider,
        principal,
        toilet,
        category_code=FEEDBACK_CATEGORY,
        answers={"feedback_type": feedback_type, "toilet_id": toilet.code},
        description=description,
        photo_keys=photo_keys,
    )


# --- import ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int

    @property
    def total(self) -> int:
        return self.created + self.updated


def _hours_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    hours = row.get("hours") or row.get("opening_hours")
    special = row.get("special_days") or ""
    if isinstance(hours, Mapping):
        return OpeningHours.from_json(hours).to_json()
    if not hours and not special:
        return None
    try:
        return OpeningHours.parse_text(str(hours or "24h"), str(special)).to_json()
    except InvalidHours as exc:
        raise ValueError(exc.message) from None


def _input_of(row: Mapping[str, Any], departments: Mapping[str, uuid.UUID]) -> ToiletInput:
    if row.get("_extra"):
        raise ValueError("more fields than the header has columns (quote a field that contains commas)")
    lat, lng = places.row_point(row)
    level_text = str(row.get("level") or "2").strip()
    if level_text not in LEVEL_NAMES:
        raise ValueError("level is 1, 2, 3 (or 一类, 二类, 三类)")
    dept_code = str(row.get("department_code") or "").strip()
    if dept_code and dept_code not in departments:
        raise ValueError(f"no department with code {dept_code!r}")
    free = places.as_bool(row["free"], "free") if row.get("free") not in (None, "") else True
    return ToiletInput(
        code=str(row.get("code") or ""),
        name=str(row.get("name") or ""),
        lat=lat,
        lng=lng,
        level=LEVEL_NAMES[level_text],
        address=str(row.get("address") or ""),
        opening_hours=_hours_of(row),
        free=free,
        fee_fen=places.as_int(row.get("fee_fen"), "fee_fen", high=10_000),
        male_stalls=places.as_int(row.get("male_stalls"), "male_stalls", high=MAX_STALLS),
        female_stalls=places.as_int(row.get("female_stalls"), "female_stalls", high=MAX_STALLS),
        accessible_stalls=places.as_int(row.get("accessible_stalls"), "accessible_stalls", high=MAX_STALLS),
        third_toilet=places.as_bool(row.get("third_toilet"), "third_toilet"),
        baby_care=places.as_bool(row.get("baby_care"), "baby_care"),
        department_id=departments[dept_code] if dept_code else None,
        note=str(row.get("note") or ""),
    )


async def import_rows(session: AsyncSession, rows: Sequence[tuple[int | str, Mapping[str, Any]]]) -> ImportResult:
    """Create or update (by code) the toilets of an import; every row is checked first, and one bad
    row refuses the whole file with every problem listed."""
    problems = places.Problems()
    departments = await places.department_ids(session)
    inputs: dict[str, ToiletInput] = {}
    for ref, row in rows:
        data = places.collect(problems, ref, lambda row=row: _input_of(row, departments))  # type: ignore[misc]
        if data is None:
            continue
        if places.collect(problems, ref, lambda data=data: _columns(data)) is None:  # type: ignore[misc]
            continue
        if data.code in inputs:
            problems.add(ref, f"code {data.code!r} appears twice")
            continue
        inputs[data.code] = data
    if not rows:
        problems.add("file", "no toilets in the file")
    problems.raise_if_any("toilet")
    existing = {t.code: t for t in (await session.scalars(select(Toilet).where(Toilet.code.in_(list(inputs))))).all()}
    created = updated = 0
    for code, data in inputs.items():
        if code in existing:
            await update_toilet(session, existing[code].id, **{f: getattr(data, f) for f in EDITABLE})
            updated += 1
        else:
            await create_toilet(session, data)
            created += 1
    return ImportResult(created, updated)


async def import_csv(session: AsyncSession, text: str) -> ImportResult:
    """Columns: code, name, lat, lng, coord (wgs84 | gcj02), level, address, hours, special_days, free,
    fee_fen, male_stalls, female_stalls, accessible_stalls, third_toilet, baby_care, department_code,
    note (only code, name, lat and lng are required)."""
    rows = places.csv_rows(text)
    return await import_rows(session, [(index + 2, row) for index, row in enumerate(rows)])  # line numbers


async def import_geojson(session: AsyncSession, collection: Mapping[str, Any]) -> ImportResult:
    """Point features with the CSV columns as properties (``hours`` also in the JSON form)."""
    problems = places.Problems()
    rows = places.geojson_rows(collection, problems)
    problems.raise_if_any("toilet")
    return await import_rows(session, rows)


# --- the demo city --------------------------------------------------------------------------------------

DEMO_COUNT = 40
DEMO_HOURS: list[tuple[str, str]] = [
    ("24h", ""),
    ("daily 06:00-22:00", "2027-01-01 08:00-18:00"),  # shorter on New Year's Day
    ("mon-fri 06:30-21:30; sat,sun 07:00-23:00", ""),
    ("daily 05:30-23:30", "2026-12-31 05:30-24:00"),
    ("daily 18:00-08:00", ""),  # a night-market toilet: open overnight only
]


async def seed_demo_toilets(session: AsyncSession) -> int:
    """About forty toilets spread over the demo city's grids (idempotent by code); the first one,
    ``XZ-WC-0001``, is the one the demo toilet sensor watches."""
    if await session.scalar(select(Toilet.id).limit(1)) is not None:
        return 0
    grids = list((await session.scalars(select(Grid).where(Grid.district_code == "420117").order_by(Grid.code))).all())
    if not grids:
        return 0
    owner = await session.scalar(select(Department.id).where(Department.code == "XZ-HW"))
    rng = random.Random(420117)
    step = len(grids) / DEMO_COUNT
    added = 0
    names: set[str] = set()
    for n in range(DEMO_COUNT):
        grid = grids[int(n * step)]
        if n == 0:
            lat, lng, level = 30.8421, 114.8012, 1  # where the demo sensor XZ-WC-0001-S1 is installed
        else:
            lat = grid.min_lat + (grid.max_lat - grid.min_lat) * rng.uniform(0.2, 0.8)
            lng = grid.min_lng + (grid.max_lng - grid.min_lng) * rng.uniform(0.2, 0.8)
            level = rng.choices([1, 2, 3], weights=[2, 5, 3])[0]
        community = grid.name.split("第")[0]
        name = f"{community}公厕"
        if name in names:
            name = f"{community}{n + 1}号公厕"
        names.add(name)
        weekly, special = DEMO_HOURS[0] if n == 0 else rng.choice(DEMO_HOURS)
        paid = level == 1 and n % 7 == 3
        stalls = {1: (6, 10), 2: (4, 6), 3: (2, 3)}[level]
        await create_toilet(
            session,
            ToiletInput(
                code=f"XZ-WC-{n + 1:04d}",
                name=name,
                lat=round(lat, 6),
                lng=round(lng, 6),
                level=level,
                address=f"{grid.name.split('第')[0]}附近",
                opening_hours=OpeningHours.parse_text(weekly, special).to_json(),
                free=not paid,
                fee_fen=50 if paid else 0,
                male_stalls=stalls[0],
                female_stalls=stalls[1],
                accessible_stalls=1 if level <= 2 else 0,
                third_toilet=level == 1 or (level == 2 and rng.random() < 0.3),
                baby_care=level == 1,
                department_id=owner,
            ),
        )
        added += 1
    return added
