"""公厕查找 — toilets near me with live status, one toilet's detail, feedback on a toilet."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.serialization import encode_json
from sqlalchemy.ext.asyncio import AsyncSession

from app.idempotency import IdempotencyKey
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.geo import CoordSystem, GridGeocoder, to_wgs84
from backend.places.rules import walking
from backend.toilets import service as toilets
from backend.toilets.rules import ToiletFilters, ToiletInfo, ToiletLive
from miniprogram_api.controllers._common import SIGNED_IN, WECHAT_DOWN
from miniprogram_api.controllers.places_out import (
    cached_live_out,
    feedback_out,
    hours_out,
    position,
    special_days_out,
    toilet_live_out,
)
from miniprogram_api.controllers.reports import Lat, Lng
from miniprogram_api.places_schemas import (
    WALKING_NOTE,
    Coord,
    FeedbackCreated,
    ToiletDetail,
    ToiletFeedbackIn,
    ToiletList,
    ToiletOut,
)

NEARBY_DESCRIPTION = f"""
Toilets within `radius_m` (at most {toilets.MAX_RADIUS_M}) of a point, nearest first, at most `limit`
(at most {toilets.MAX_LIMIT}). Point in, points out in `coord` (GCJ-02 by default).

Filters: `open_now` (by the opening hours, unless a fresh device reading says open/closed),
`has_free_stall` (a fresh reading shows a free stall), `accessible` (无障碍厕位), `baby_care` (母婴室),
`third_toilet` (第三卫生间), `level` (1/2/3 = 一/二/三类).

Live status comes from the toilet's devices; a reading older than three of its device's reporting
intervals is stale: left out of the values, named in `stale_metrics`, and `live: false` with
`stale_since` when nothing is fresh. Odour is judged against GB/T 17217 for the toilet's class
(NH₃ 0.3/1/3 mg/m³ for 一/二/三类, H₂S 0.01 mg/m³).

{WALKING_NOTE}. When Redis is unreachable the same search runs on PostgreSQL (`source: database`)
and there is no live status (`live_available: false`).
""".strip()


def toilet_out(t: ToiletInfo, status: ToiletLive, open_now: bool, coord: str, distance_m: float) -> ToiletOut:
    """One toilet of a nearby answer as its wire struct."""
    out_lat, out_lng = position(t.lat, t.lng, coord)
    walk = walking(distance_m)
    return ToiletOut(
        id=t.id,
        code=t.code,
        name=t.name,
        address=t.address,
        lat=out_lat,
        lng=out_lng,
        coord=coord,  # type: ignore[arg-type]
        level=int(t.level),
        level_name=t.level.label,
        open_now=open_now,
        hours_text=t.hours_text,
        free=t.free,
        fee_amount_fen=t.fee_fen,
        male_stalls=t.male_stalls,
        female_stalls=t.female_stalls,
        accessible=t.accessible_stalls > 0,
        accessible_stalls=t.accessible_stalls,
        third_toilet=t.third_toilet,
        baby_care=t.baby_care,
        live=cached_live_out(status),
        distance_m=round(distance_m),
        walking_m=walk.metres,
        walking_min=walk.minutes,
    )


class NearbyJson:
    """The nearby answer as JSON, the same bytes as encoding its ``ToiletList``, at a fraction of the cost.

    A toilet's JSON up to its distance changes only when the toilet, its live status or open-now does,
    so it is encoded once and kept with what it was made from (the service reuses those objects while
    nothing changes); each request appends the distance and walking figures and joins the toilets.
    ``ToiletOut`` ends with exactly those three fields so that this is a plain concatenation.
    """

    _TAIL = b'"distance_m":0,"walking_m":0,"walking_min":0}'
    _AFTER_DISTANCE = b'%d,"walking_m":%d,"walking_min":%d}'
    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        # (record id, coord) → (record, status, open_now, JSON up to and including ``"distance_m":``)
        self._heads: dict[tuple[int, str], tuple[ToiletInfo, ToiletLive, bool, bytes]] = {}
        self._ends = {
            (source, live): encode_json(ToiletList([], source, live, WALKING_NOTE))[len(b'{"items":[') :]  # type: ignore[arg-type]
            for source in ("redis", "database")
            for live in (True, False)
        }

    def _encode(self, t: ToiletInfo, status: ToiletLive, open_now: bool, coord: str) -> bytes:
        """The toilet's JSON up to and including ``"distance_m":``, encoded and kept (a miss of ``render``)."""
        whole = encode_json(toilet_out(t, status, open_now, coord, 0.0))
        if not whole.endswith(self._TAIL):  # pragma: no cover - the field order of ToiletOut changed
            raise RuntimeError("ToiletOut must end with distance_m, walking_m, walking_min")
        head = whole[: -len(self._TAIL)] + b'"distance_m":'
        if len(self._heads) >= self.MAX_ENTRIES:
            self._heads.clear()
        self._heads[(id(t), coord)] = (t, status, open_now, head)
        return head

    def render(self, found: toilets.NearbyToilets, coord: str) -> bytes:
        after = self._AFTER_DISTANCE
        heads = self._heads
        parts = []
        for t, distance_m, status, open_now in found.items:
            hit = heads.get((id(t), coord))
            if hit is not None and hit[0] is t and hit[1] is status and hit[2] is open_now:
                head = hit[3]
            else:
                head = self._encode(t, status, open_now, coord)
            metres, minutes = walking(distance_m)
            parts.append(head + after % (round(distance_m), metres, minutes))
        return b'{"items":[' + b",".join(parts) + self._ends[(found.source, found.live_available)]


NEARBY_JSON = NearbyJson()


class ToiletController(Controller):
    path = "/toilets"
    tags = ["toilets"]

    @get("/nearby", summary="Toilets near me, nearest first, with live status", description=NEARBY_DESCRIPTION)
    async def nearby(
        self,
        state: State,
        lat: Lat,
        lng: Lng,
        coord: Coord = "gcj02",
        radius_m: Annotated[int, Parameter(ge=1, le=toilets.MAX_RADIUS_M)] = 1000,
        limit: Annotated[int, Parameter(ge=1, le=toilets.MAX_LIMIT)] = 20,
        open_now: bool = False,
        has_free_stall: bool = False,
        accessible: bool = False,
        baby_care: bool = False,
        third_toilet: bool = False,
        level: Annotated[int | None, Parameter(ge=1, le=3, description="1/2/3 = 一/二/三类")] = None,
    ) -> Response[ToiletList]:
        wgs = to_wgs84(lat, lng, CoordSystem(coord))
        filters = ToiletFilters(
            open_now=open_now,
            has_free_stall=has_free_stall,
            accessible=accessible,
            baby_care=baby_care,
            third_toilet=third_toilet,
            levels=frozenset({level}) if level else frozenset(),
        )
        runtime = state.runtime
        # No request session: the answer usually comes from Redis and memory; PostgreSQL is opened
        # only to (re)load the toilets or when Redis is down.
        found = await toilets.nearby(
            runtime.session_factory, runtime.redis, wgs.lat, wgs.lng, radius_m=radius_m, limit=limit, filters=filters
        )
        # A ToiletList, already encoded (``NearbyJson``); the annotation documents it as one.
        body = NEARBY_JSON.render(found, coord)
        return Response(body, media_type=MediaType.JSON)  # type: ignore[arg-type]

    @get("/{toilet_id:uuid}", summary="One toilet: facilities, opening hours and live status")
    async def detail(
        self, db_session: AsyncSession, state: State, toilet_id: uuid.UUID, coord: Coord = "gcj02"
    ) -> ToiletDetail:
        view = await toilets.detail(db_session, state.runtime.redis, toilet_id)
        t = view.toilet
        out_lat, out_lng = position(t.lat, t.lng, coord)
        return ToiletDetail(
            id=t.id,
            code=t.code,
            name=t.name,
            address=t.address,
            lat=out_lat,
            lng=out_lng,
            coord=coord,
            level=int(t.level),
            level_name=t.level.label,
            open_now=view.open_now,
            opening_hours=hours_out(t.hours),
            special_days=special_days_out(t.hours, datetime.now(UTC)),
            free=t.free,
            fee_amount_fen=t.fee_fen,
            male_stalls=t.male_stalls,
            female_stalls=t.female_stalls,
            accessible=t.accessible_stalls > 0,
            accessible_stalls=t.accessible_stalls,
            third_toilet=t.third_toilet,
            baby_care=t.baby_care,
            department=t.department_name,
            live=toilet_live_out(view.live),
            live_available=view.live_available,
        )

    @post(
        "/{toilet_id:uuid}/feedback",
        summary="Feedback on a toilet (公厕服务反馈): becomes a case at the toilet",
        description=(
            "Category E0705 at the toilet's location, through the same intake as any report: the text passes "
            "WeChat's check (400 risky_content), photos are upload keys (at most 9). Follow it under /reports."
        ),
        status_code=201,
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def feedback(
        self,
        citizen: CitizenPrincipal,
        data: ToiletFeedbackIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        geocoder: GridGeocoder,
        toilet_id: uuid.UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> FeedbackCreated:
        result = await toilets.submit_feedback(
            db_session,
            state.runtime.storage,
            geocoder,
            wechat,
            citizen,
            toilet_id,
            feedback_type=data.feedback_type,
            description=data.description,
            photo_keys=data.photos,
        )
        return feedback_out(result)
