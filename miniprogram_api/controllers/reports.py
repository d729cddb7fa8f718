"""随手拍 — snap-and-report, my reports with their progress, rating and "not fixed"."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.idempotency import IdempotencyKey
from backend.cases.service import MAX_PAGE
from backend.citizens import reports
from backend.citizens.reports import NearbyCase, ReportInput, ReportView
from backend.citizens.rules import deadline_text, mask_personal, status_text
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.geo import CoordSystem, GridGeocoder, to_wgs84
from backend.media import service as media
from backend.models import Case, MediaUpload
from backend.storage import StorageService
from miniprogram_api.controllers._common import SIGNED_IN, WECHAT_DOWN, local, point
from miniprogram_api.schemas import (
    Coord,
    DivertOut,
    FollowOut,
    NotFixedIn,
    PhotoOut,
    RatingIn,
    RatingOut,
    ReportCreated,
    ReportDetail,
    ReportIn,
    ReportPage,
    ReportSummary,
    SimilarList,
    SimilarOut,
    TimelineOut,
)

Lat = Annotated[float, Parameter(ge=-90, le=90, description="latitude in the `coord` system")]
Lng = Annotated[float, Parameter(ge=-180, le=180, description="longitude in the `coord` system")]
CategoryCode = Annotated[str, Parameter(pattern=r"^[CE][0-9]{4}$", description="category (小类) code")]


def photos_out(
    storage: StorageService, case: Case, uploads: dict[str, MediaUpload], owner: str | None
) -> list[PhotoOut]:
    """Every photo of the case with its check status; a URL only for what the viewer may see: their own
    photos, and others' public copies once the content check passed."""
    out = []
    for key in case.photos:
        upload = uploads.get(key)
        if upload is None:
            continue
        own = owner is not None and upload.owner_kind == "citizen" and upload.owner_id == owner
        url = storage.presign_get(upload.key) if own else media.public_url(storage, upload)
        out.append(PhotoOut(key=key, url=url, status=upload.check_status))
    return out


def public_photos(storage: StorageService, nearby: NearbyCase) -> list[str]:
    urls = [media.public_url(storage, nearby.uploads[k]) for k in nearby.case.photos if k in nearby.uploads]
    return [u for u in urls if u]


def detail_out(view: ReportView, storage: StorageService, coord: str, viewer: str) -> ReportDetail:
    case = view.case
    where = point(case.lat, case.lng, coord)
    return ReportDetail(
        id=str(case.id),
        number=case.number,
        category_code=case.category_code,
        category_name=view.category.name,
        state=case.state,
        status_text=status_text(case.state),
        description=case.description,
        address=case.address,
        lat=where.lat,
        lng=where.lng,
        coord=coord,
        created_at=local(case.created_at),
        department=view.department,
        deadline=local(case.deadline) if case.deadline else None,
        deadline_text=deadline_text(case.deadline) if case.deadline else None,
        photos=photos_out(storage, case, view.uploads, viewer),
        timeline=[TimelineOut(at=e.at, title=e.title, text=e.text) for e in view.timeline],
        rating=RatingOut(score=case.rating, comment=case.rating_comment or "") if case.rating is not None else None,
        following=view.following,
        can_rate=view.can_rate,
        can_reopen=view.can_reopen,
        reopen_until=local(view.reopen_until) if view.reopen_until else None,
    )


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get(
        "/similar",
        summary="Open cases like mine nearby, before I submit (我也遇到)",
        description="Same category within the category's radius and time window, nearest first.",
        responses=SIGNED_IN,
    )
    async def similar(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        state: State,
        category_code: CategoryCode,
        lat: Lat,
        lng: Lng,
        coord: Coord = "gcj02",
    ) -> SimilarList:
        wgs = to_wgs84(lat, lng, CoordSystem(coord))
        found = await reports.similar_nearby(db_session, category_code, wgs.lat, wgs.lng)
        storage = state.runtime.storage
        items = []
        for similar, nearby in found:
            where = point(nearby.case.lat, nearby.case.lng, coord)
            items.append(
                SimilarOut(
                    id=str(nearby.case.id),
                    number=nearby.case.number,
                    category_code=nearby.category.code,
                    category_name=nearby.category.name,
                    status_text=status_text(similar.state),
                    distance_m=similar.distance_m,
                    lat=where.lat,
                    lng=where.lng,
                    coord=coord,
                    description=mask_personal(nearby.case.description)[:120],
                    reported_at=local(similar.created_at),
                    photos=public_photos(storage, nearby),
                )
            )
        return SimilarList(items=items)

    @post(
        "",
        summary="Report a problem (随手拍)",
        description=(
            "Location in `coord` (GCJ-02 by default). Photos are the `key`s of uploads (at most 9); each is "
            "confirmed here — a missing, oversized or wrong-type photo refuses the whole report and nothing is "
            "written. The texts pass WeChat's text check (400 risky_content). Send an `Idempotency-Key`: a "
            "retry then returns the first answer instead of a second report."
        ),
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def submit(
        self,
        citizen: CitizenPrincipal,
        data: ReportIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        geocoder: GridGeocoder,
        idempotency_key: IdempotencyKey = None,
    ) -> ReportCreated:
        wgs = to_wgs84(data.lat, data.lng, CoordSystem(data.coord))
        result = await reports.submit(
            db_session,
            state.runtime.storage,
            geocoder,
            wechat,
            citizen,
            ReportInput(
                category_code=data.category_code,
                lat=wgs.lat,
                lng=wgs.lng,
                description=data.description,
                address=data.address,
                answers=dict(data.answers),
                photo_keys=list(data.photos),
            ),
        )
        case = result.case
        return ReportCreated(
            id=str(case.id),
            number=case.number,
            state=case.state,
            status_text=status_text(case.state),
            created_at=local(case.created_at),
            divert=DivertOut(to=result.divert["to"], message=result.divert["message"]) if result.divert else None,
        )

    @get("", summary="My reports, newest first", responses=SIGNED_IN)
    async def mine(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
        cursor: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> ReportPage:
        page, categories = await reports.my_reports(db_session, citizen, limit=min(limit, MAX_PAGE), cursor=cursor)
        me = str(citizen.citizen_id)
        return ReportPage(
            items=[
                ReportSummary(
                    id=str(c.id),
                    number=c.number,
                    category_code=c.category_code,
                    category_name=categories[c.category_code].name if c.category_code in categories else "",
                    state=c.state,
                    status_text=status_text(c.state),
                    following=not (c.reporter_kind == "citizen" and c.reporter_id == me),
                    address=c.address,
                    created_at=local(c.created_at),
                    updated_at=local(c.updated_at),
                )
                for c in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @get(
        "/{report_id:uuid}",
        summary="One of my reports, with its progress in plain words",
        description="Another citizen's report is 404, as if it did not exist.",
        responses=SIGNED_IN,
    )
    async def detail(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        state: State,
        report_id: uuid.UUID,
        coord: Coord = "gcj02",
    ) -> ReportDetail:
        runtime = state.runtime
        view = await reports.detail(
            db_session, citizen, report_id, reopen_window_days=runtime.settings.citizens.reopen_window_days
        )
        return detail_out(view, runtime.storage, coord, str(citizen.citizen_id))

    @post(
        "/{report_id:uuid}/follow",
        summary="Me too (我也遇到): follow an open case nearby instead of reporting it again",
        status_code=200,
        responses=SIGNED_IN,
    )
    async def follow(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        report_id: uuid.UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> FollowOut:
        case, added = await reports.follow(db_session, citizen, report_id)
        return FollowOut(id=str(case.id), number=case.number, added=added)

    @post(
        "/{report_id:uuid}/rating",
        summary="Rate the result of my closed report, 1–5, once",
        status_code=200,
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def rate(
        self,
        citizen: CitizenPrincipal,
        data: RatingIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        report_id: uuid.UUID,
        coord: Coord = "gcj02",
        idempotency_key: IdempotencyKey = None,
    ) -> ReportDetail:
        runtime = state.runtime
        await reports.rate(db_session, wechat, citizen, report_id, data.score, data.comment)
        view = await reports.detail(
            db_session, citizen, report_id, reopen_window_days=runtime.settings.citizens.reopen_window_days
        )
        return detail_out(view, runtime.storage, coord, str(citizen.citizen_id))

    @post(
        "/{report_id:uuid}/not-fixed",
        summary="The problem is not fixed: reopen my closed report",
        description="Within `MP_REOPEN_WINDOW_DAYS` (default 7) of closure; after that 409 reopen_window_passed.",
        status_code=200,
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def not_fixed(
        self,
        citizen: CitizenPrincipal,
        data: NotFixedIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        report_id: uuid.UUID,
        coord: Coord = "gcj02",
        idempotency_key: IdempotencyKey = None,
    ) -> ReportDetail:
        runtime = state.runtime
        window = runtime.settings.citizens.reopen_window_days
        await reports.not_fixed(db_session, wechat, citizen, report_id, data.reason, window_days=window)
        view = await reports.detail(db_session, citizen, report_id, reopen_window_days=window)
        return detail_out(view, runtime.storage, coord, str(citizen.citizen_id))
