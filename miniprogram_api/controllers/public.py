"""Public views, no login: the map of cases near a point (anonymised) and the notices (公告)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens import reports
from backend.citizens.rules import mask_personal, public_status, status_text
from backend.geo import CoordSystem, to_wgs84
from backend.models import Notice
from backend.notices import service as notices
from miniprogram_api.controllers._common import local, point
from miniprogram_api.controllers.reports import Lat, Lng, public_photos
from miniprogram_api.schemas import Coord, MapCaseList, MapCaseOut, NoticeDetail, NoticePage, NoticeSummary


class MapController(Controller):
    path = "/map"
    tags = ["public"]

    @get(
        "/cases",
        summary="Cases near a point, for the public map",
        description=(
            "Nearest first, within `radius_m` (at most 2000) and at most `limit` (at most 100). Anonymised: no "
            "reporter, no phone numbers (masked in texts), photos only once they passed the content check. "
            "`status`: open (default), closed (in the last 30 days) or all."
        ),
    )
    async def cases_near(
        self,
        db_session: AsyncSession,
        state: State,
        lat: Lat,
        lng: Lng,
        coord: Coord = "gcj02",
        radius_m: Annotated[int, Parameter(ge=1, le=reports.MAP_MAX_RADIUS_M)] = 1000,
        limit: Annotated[int, Parameter(ge=1, le=reports.MAP_MAX_LIMIT)] = 50,
        status: Literal["open", "closed", "all"] = "open",
    ) -> MapCaseList:
        wgs = to_wgs84(lat, lng, CoordSystem(coord))
        found = await reports.public_map(db_session, wgs.lat, wgs.lng, radius_m=radius_m, limit=limit, status=status)
        storage = state.runtime.storage
        items = []
        for nearby in found:
            case = nearby.case
            where = point(case.lat, case.lng, coord)
            items.append(
                MapCaseOut(
                    id=str(case.id),
                    number=case.number,
                    category_code=case.category_code,
                    category_name=nearby.category.name,
                    status=public_status(case.state),
                    status_text=status_text(case.state),
                    lat=where.lat,
                    lng=where.lng,
                    coord=coord,
                    distance_m=nearby.distance_m,
                    description=mask_personal(case.description)[:120],
                    reported_at=local(case.created_at),
                    photos=public_photos(storage, nearby),
                )
            )
        return MapCaseList(items=items)


def _summary(n: Notice) -> NoticeSummary:
    return NoticeSummary(
        id=str(n.id), title=n.title, summary=n.summary, category=n.category, pinned=n.pinned,
        published_at=local(n.published_at),
    )  # fmt: skip


class NoticeController(Controller):
    path = "/notices"
    tags = ["public"]

    @get("", summary="Public notices (公告), pinned first, then newest")
    async def list_notices(
        self,
        db_session: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=notices.MAX_PAGE)] = 20,
        cursor: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> NoticePage:
        rows, next_cursor = await notices.list_published(db_session, limit=limit, cursor=cursor)
        return NoticePage(items=[_summary(n) for n in rows], next_cursor=next_cursor)

    @get("/{notice_id:uuid}", summary="One public notice")
    async def get_notice(self, db_session: AsyncSession, notice_id: uuid.UUID) -> NoticeDetail:
        n = await notices.get_published(db_session, notice_id)
        return NoticeDetail(
            id=str(n.id), title=n.title, summary=n.summary, body=n.body, category=n.category, pinned=n.pinned,
            published_at=local(n.published_at),
        )  # fmt: skip
