"""Patrol tracks (巡查轨迹): batched GPS uploads, playback of a day, daily mileage."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Controller, get
from litestar.params import Parameter

from backend.field import tracks
from backend.field.enums import OpKind
from backend.field.ops import FieldContext, TrackResult
from backend.geo import CoordSystem, from_wgs84
from field_app_api.context import FIELD_DEPENDENCIES, apply_write, error_responses, write_endpoint
from field_app_api.fieldwork_schemas import MileageOut, MileageRowOut, PlaybackOut, TrackIn, TrackPointOut

FIELD_ROLES = ("collector", "handler", "officer")


class TrackController(Controller):
    path = "/tracks"
    tags = ["tracks"]
    dependencies = FIELD_DEPENDENCIES

    @write_endpoint(
        "",
        summary="Upload a batch of GPS points (absurd ones are dropped and counted)",
        roles=FIELD_ROLES,
        errors=(400, 409),
    )
    async def upload(self, field: FieldContext, data: TrackIn) -> TrackResult:
        return await apply_write(field, OpKind.track_upload, data, TrackResult)

    @get(
        "/mileage",
        summary="每日里程 — daily mileage over a range: mine, or anyone's for a shift lead",
        responses=error_responses(400, 404),
    )
    async def mileage(
        self,
        field: FieldContext,
        day_from: date = Parameter(query="from"),
        day_to: date | None = Parameter(query="to", default=None),
        staff_id: uuid.UUID | None = None,
    ) -> MileageOut:
        rows = await tracks.mileage(
            field.session, field.staff, day_from=day_from, day_to=day_to or day_from, staff_id=staff_id
        )
        return MileageOut([MileageRowOut(staff_id=str(r.staff_id), day=r.day, distance_m=r.distance_m) for r in rows])

    @get(
        "/{staff_id:uuid}/{day:date}",
        summary="轨迹回放 — a staff member's track of one day with distance and duration",
        responses=error_responses(404),
    )
    async def playback(
        self, field: FieldContext, staff_id: uuid.UUID, day: date, coord: CoordSystem = CoordSystem.GCJ02
    ) -> PlaybackOut:
        track = await tracks.playback(field.session, field.staff, staff_id, day)
        points = []
        for p in track.points:
            lat, lng = from_wgs84(p.lat, p.lng, coord)
            points.append(TrackPointOut(ts=p.ts, lat=lat, lng=lng, accuracy=p.accuracy, speed=p.speed))
        return PlaybackOut(
            staff_id=str(track.staff_id),
            day=track.day,
            coord=coord,
            point_count=len(points),
            distance_m=track.distance_m,
            duration_s=track.duration_s,
            points=points,
        )
