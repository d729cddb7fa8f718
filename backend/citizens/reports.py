"""随手拍 — a citizen's reports through the one case service: nearby similar cases before submitting,
"me too", submission with photos and the content check, my reports with their progress, rating and
"not fixed"; and the anonymous public map of cases.

Case state lives in ``backend.cases.service`` only; this module adds what is particular to citizens
(the text check, the photos, the reopen window, the public view) around its calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseSource
from backend.cases.service import IntakeData, IntakeResult, Page, SimilarCase
from backend.catalog.service import citizen_categories
from backend.citizens.rules import CLOSED_STATES, TimelineEntry, citizen_timeline
from backend.citizens.service import CitizenPrincipal, check_text, get_citizen
from backend.citizens.wechat import SCENE_COMMENT, SCENE_FORUM, MiniProgramProvider
from backend.errors import Conflict, ValidationFailed
from backend.geo import GridGeocoder, cell_ids_within, haversine_m
from backend.media import service as media
from backend.models import Case, Category, CategoryMajor, Department, MediaUpload
from backend.storage import StorageService

MAX_PHOTOS = 9
MAP_MAX_RADIUS_M = 2000
MAP_MAX_LIMIT = 100
MAP_CLOSED_WITHIN = timedelta(days=30)
MAP_SCAN_CAP = 2000  # rows a map query looks at before sorting by distance


@dataclass
class ReportInput:
    category_code: str
    lat: float  # WGS-84 (converted at the edge)
    lng: float
    description: str = ""
    address: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    photo_keys: list[str] = field(default_factory=list)


@dataclass
class ReportView:
    """One report as its citizen sees it."""

    case: Case
    category: Category
    department: str | None
    timeline: list[TimelineEntry]
    uploads: dict[str, MediaUpload]
    following: bool
    can_rate: bool
    can_reopen: bool
    reopen_until: datetime | None


@dataclass
class NearbyCase:
    case: Case
    category: Category
    distance_m: float
    uploads: dict[str, MediaUpload]


def _now() -> datetime:
    return datetime.now(UTC)


async def _categories(session: AsyncSession, codes: Sequence[str]) -> dict[str, Category]:
    if not codes:
        return {}
    rows = await session.scalars(select(Category).where(Category.code.in_(sorted(set(codes)))))
    return {c.code: c for c in rows.all()}


async def _department_names(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(Department.id, Department.name))
    return {str(r.id): r.name for r in rows.all()}


def _texts_of(data: ReportInput) -> str:
    answers = [str(v) for v in data.answers.values() if isinstance(v, str)]
    return "\n".join(t for t in [data.description, data.address, *answers] if t.strip())


async def submit(
    session: AsyncSession,
    storage: StorageService,
    geocoder: GridGeocoder,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    data: ReportInput,
    *,
    now: datetime | None = None,
) -> IntakeResult:
    """Check the text, confirm every photo, then take the report in through the case service. Any
    refusal comes before the first write, so a refused report leaves nothing behind."""
    now = now or _now()
    citizen = await get_citizen(session, principal.citizen_id)
    category = await cases.get_category(session, data.category_code)
    if not category.citizen_selectable:
        raise ValidationFailed("citizens cannot report this category", code="category_not_selectable")
    await check_text(provider, principal, _texts_of(data), SCENE_FORUM)
    uploads = await media.confirm_all(
        session, storage, "citizen", str(principal.citizen_id), data.photo_keys, max_count=MAX_PHOTOS, now=now
    )
    result = await cases.intake(
        session,
        geocoder,
        principal.actor,
        IntakeData(
            source=CaseSource.citizen,
            category_code=data.category_code,
            lat=data.lat,
            lng=data.lng,
            description=data.description,
            address=data.address,
            answers=data.answers,
            photos=list(data.photo_keys),
            reporter_phone=citizen.phone,
        ),
        now=now,
    )
    await media.attach(session, uploads, result.case.id)
    return result


async def similar_nearby(
    session: AsyncSession, category_code: str, lat: float, lng: float, *, now: datetime | None = None
) -> list[tuple[SimilarCase, NearbyCase]]:
    """Open cases of the category near the point (the category's radius and window), nearest first."""
    category = await cases.get_category(session, category_code)
    if not category.citizen_selectable:
        raise ValidationFailed("citizens cannot report this category", code="category_not_selectable")
    similar = await cases.find_similar(session, category, lat, lng, now=now)
    if not similar:
        return []
    rows = await session.scalars(select(Case).where(Case.id.in_([s.case_id for s in similar])))
    by_id = {c.id: c for c in rows.all()}
    uploads = await media.uploads_by_key(session, [k for c in by_id.values() for k in c.photos])
    result = []
    for s in similar:
        case = by_id.get(s.case_id)
        if case is not None:
            photos = {k: uploads[k] for k in case.photos if k in uploads}
            result.append((s, NearbyCase(case, category, s.distance_m, photos)))
    return result


async def follow(session: AsyncSession, principal: CitizenPrincipal, case_id: uuid.UUID) -> tuple[Case, bool]:
    return await cases.follow(session, principal.actor, case_id)


async def my_reports(
    session: AsyncSession, principal: CitizenPrincipal, *, limit: int, cursor: str | None
) -> tuple[Page, dict[str, Category]]:
    page = await cases.list_cases(session, principal.actor, cases.CaseFilter(), limit=limit, cursor=cursor)
    return page, await _categories(session, [c.category_code for c in page.items])


def _reopen_until(case: Case, window_days: int) -> datetime | None:
    if case.state != "closed" or case.closed_at is None:
        return None
    return case.closed_at + timedelta(days=window_days)


async def detail(
    session: AsyncSession,
    principal: CitizenPrincipal,
    case_id: uuid.UUID,
    *,
    reopen_window_days: int,
    now: datetime | None = None,
) -> ReportView:
    now = now or _now()
    case = await cases.get_case(session, principal.actor, case_id)
    events = await cases.timeline(session, principal.actor, case_id)
    departments = await _department_names(session)
    category = (await _categories(session, [case.category_code]))[case.category_code]
    reporter = case.reporter_kind == "citizen" and case.reporter_id == str(principal.citizen_id)
    until = _reopen_until(case, reopen_window_days)
    return ReportView(
        case=case,
        category=category,
        department=departments.get(str(case.main_department_id)) if case.main_department_id else None,
        timeline=citizen_timeline(events, departments),
        uploads=await media.uploads_by_key(session, case.photos),
        following=not reporter,
        can_rate=reporter and case.state == "closed" and case.rating is None,
        can_reopen=until is not None and now <= until,
        reopen_until=until,
    )


async def rate(
    session: AsyncSession,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    case_id: uuid.UUID,
    score: int,
    comment: str,
    *,
    now: datetime | None = None,
) -> Case:
    await cases.get_case(session, principal.actor, case_id)  # 404 before a text check for someone else's case
    await check_text(provider, principal, comment, SCENE_COMMENT)
    return await cases.rate(session, principal.actor, case_id, score, comment.strip(), now=now)


async def not_fixed(
    session: AsyncSession,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    case_id: uuid.UUID,
    reason: str,
    *,
    window_days: int,
    now: datetime | None = None,
) -> Case:
    """ "问题未解决" — a closed case is reopened (and sent back to its department) within the window."""
    now = now or _now()
    case = await cases.get_case(session, principal.actor, case_id)
    if case.state != "closed":
        raise Conflict("only a closed case can be reported as not fixed", code="case_not_closed")
    until = _reopen_until(case, window_days)
    if until is None or now > until:
        raise Conflict(
            f"a case can be reopened within {window_days} days of closure",
            code="reopen_window_passed",
            details={"reopen_until": until.isoformat() if until else None},
        )
    await check_text(provider, principal, reason, SCENE_COMMENT)
    return await cases.reopen(session, principal.actor, case_id, reason.strip() or "市民反映问题未解决", now=now)


async def public_map(
    session: AsyncSession,
    lat: float,
    lng: float,
    *,
    radius_m: int,
    limit: int,
    status: str = "open",
    now: datetime | None = None,
) -> list[NearbyCase]:
    """Cases near a point for the public map, nearest first: open ones, and (``status``) those closed in
    the last 30 days; never rejected or merged ones. Found through the ``cell`` index, never a scan."""
    if not 1 <= radius_m <= MAP_MAX_RADIUS_M or not 1 <= limit <= MAP_MAX_LIMIT:
        raise ValidationFailed("radius or limit out of range", code="invalid_range")
    now = now or _now()
    cells = cell_ids_within(lat, lng, radius_m, cases.SIMILAR_RES)
    open_clause = Case.state.not_in(sorted(CLOSED_STATES))
    closed_clause = and_(Case.state == "closed", Case.closed_at >= now - MAP_CLOSED_WITHIN)
    wanted = {"open": open_clause, "closed": closed_clause, "all": or_(open_clause, closed_clause)}[status]
    rows = await session.scalars(
        select(Case)
        # One array parameter (= ANY) rather than a thousand: the cell index serves it the same.
        .where(Case.cell == any_(bindparam("cells", cells, type_=ARRAY(BigInteger))), wanted)
        .order_by(Case.created_at.desc())
        .limit(MAP_SCAN_CAP)
    )
    found = []
    for case in rows.all():
        distance = haversine_m(lat, lng, case.lat, case.lng)
        if distance <= radius_m:
            found.append((distance, case))
    found.sort(key=lambda pair: pair[0])
    found = found[:limit]
    categories = await _categories(session, [c.category_code for _, c in found])
    uploads = await media.uploads_by_key(session, [k for _, c in found for k in c.photos])
    return [
        NearbyCase(
            case, categories[case.category_code], round(d, 1), {k: uploads[k] for k in case.photos if k in uploads}
        )
        for d, case in found
    ]


async def selectable_categories(session: AsyncSession) -> list[tuple[Category, str]]:
    """The categories a citizen may pick, each with its major class's name, in code order."""
    majors = {(m.kind, m.code): m.name for m in (await session.scalars(select(CategoryMajor))).all()}
    return [(c, majors.get((c.kind, c.major_code), "")) for c in await citizen_categories(session)]
