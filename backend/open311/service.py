"""Open311 GeoReport v2 over the catalog and the case service.

Services are the citizen-selectable categories (小类), their questions the attributes. A POSTed request
becomes a case with source ``open311`` through the one intake; GET requests shows cases of any source,
anonymised as on the public map (no reporter, no phone; phone and ID numbers in texts masked; photos
only after the content check passed). Coordinates are WGS-84, as the spec says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData
from backend.catalog.service import citizen_categories
from backend.citizens.rules import CLOSED_STATES
from backend.errors import DomainError
from backend.geo import GridGeocoder, validate_lat_lng
from backend.media import service as media
from backend.models import Case, Category, CategoryMajor, Department, MediaUpload
from backend.open311.rules import MAX_REQUESTS, Open311Error, answers_from, attribute, request_window

KIND_NAMES = {"component": "部件", "event": "事件"}


@dataclass
class ServiceInfo:
    category: Category
    group: str


@dataclass
class RequestView:
    case: Case
    category: Category | None
    department: str | None
    uploads: dict[str, MediaUpload]


async def services(session: AsyncSession) -> list[ServiceInfo]:
    majors = {(m.kind, m.code): m.name for m in (await session.scalars(select(CategoryMajor))).all()}
    return [
        ServiceInfo(c, f"{KIND_NAMES.get(c.kind, c.kind)}·{majors.get((c.kind, c.major_code), c.major_code)}")
        for c in await citizen_categories(session)
    ]


async def service(session: AsyncSession, code: str) -> Category:
    category = await session.get(Category, code)
    if category is None or not category.active or not category.citizen_selectable:
        raise Open311Error(404, f"service_code {code!r} not found")
    return category


def definition(category: Category) -> list[dict[str, object]]:
    return [attribute(q, i + 1) for i, q in enumerate(category.questions)]


def check_api_key(keys: dict[str, str], api_key: str | None) -> str:
    """The client name of a valid api_key."""
    for client, key in keys.items():
        if api_key and key == api_key:
            return client
    raise Open311Error(403, "api_key is missing or invalid")


async def create_request(
    session: AsyncSession,
    geocoder: GridGeocoder,
    *,
    service_code: str,
    lat: float,
    lng: float,
    attributes: dict[str, str],
    description: str = "",
    address: str = "",
    phone: str | None = None,
    now: datetime | None = None,
) -> Case:
    category = await service(session, service_code)
    try:
        validate_lat_lng(lat, lng)
        answers = answers_from(category.questions, attributes)
        result = await cases.intake(
            session,
            geocoder,
            Actor.system(),
            IntakeData(
                source=CaseSource.open311,
                category_code=category.code,
                lat=lat,
                lng=lng,
                description=description,
                address=address,
                answers=answers,
                reporter_phone=phone or None,
            ),
            now=now,
        )
    except Open311Error:
        raise
    except DomainError as exc:
        raise Open311Error(400, exc.message) from None
    return result.case


async def _views(session: AsyncSession, rows: list[Case]) -> list[RequestView]:
    codes = sorted({c.category_code for c in rows})
    categories = {c.code: c for c in (await session.scalars(select(Category).where(Category.code.in_(codes)))).all()}
    dept_ids = sorted({c.main_department_id for c in rows if c.main_department_id}, key=str)
    departments = {
        d.id: d.name for d in (await session.scalars(select(Department).where(Department.id.in_(dept_ids)))).all()
    }
    uploads = await media.uploads_by_key(session, [k for c in rows for k in c.photos])
    return [
        RequestView(
            case=c,
            category=categories.get(c.category_code),
            department=departments.get(c.main_department_id) if c.main_department_id else None,
            uploads={k: uploads[k] for k in c.photos if k in uploads},
        )
        for c in rows
    ]


async def get_request(session: AsyncSession, request_id: str) -> RequestView:
    try:
        clause = Case.id == uuid.UUID(request_id)
    except ValueError:
        clause = Case.number == request_id
    case = await session.scalar(select(Case).where(clause, Case.state != "merged"))
    if case is None:
        raise Open311Error(404, f"service_request_id {request_id!r} not found")
    return (await _views(session, [case]))[0]


async def find_requests(
    session: AsyncSession,
    *,
    ids: list[str],
    service_codes: list[str],
    start: datetime | None,
    end: datetime | None,
    statuses: list[str],
    now: datetime | None = None,
) -> list[RequestView]:
    """The spec's filters: ``ids`` alone when given; else service codes, the date window (default the
    last 90 days) and status (open | closed); newest first, at most 1000."""
    stmt = select(Case).where(Case.state != "merged")
    if ids:
        uuids, numbers = [], []
        for raw in ids:
            try:
                uuids.append(uuid.UUID(raw))
            except ValueError:
                numbers.append(raw)
        stmt = stmt.where((Case.id.in_(uuids)) | (Case.number.in_(numbers)))
    else:
        low, high = request_window(start, end, now or datetime.now(UTC))
        stmt = stmt.where(Case.created_at >= low, Case.created_at <= high)
        if service_codes:
            stmt = stmt.where(Case.category_code.in_(service_codes))
        unknown = set(statuses) - {"open", "closed"}
        if unknown:
            raise Open311Error(400, "status must be open or closed")
        if statuses == ["open"]:
            stmt = stmt.where(Case.state.not_in(sorted(CLOSED_STATES)))
        elif statuses == ["closed"]:
            stmt = stmt.where(Case.state.in_(sorted(CLOSED_STATES)))
    rows = list((await session.scalars(stmt.order_by(Case.created_at.desc()).limit(MAX_REQUESTS))).all())
    return await _views(session, rows)
