"""Inspections (执法检查): an officer checks a place and an object (a shop front, a construction site, a
market stall) against a checklist, notes findings with photos, and opens cases from findings
(intake with source ``inspection``) — at once, or later from the inspection.

Who sees an inspection: its inspector, their department (handlers and officers of it) and supervisors
(shift leads, admins, auditors); anyone else gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseSource, Role, Urgency
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.field.attendance import is_supervisor
from backend.geo import GridGeocoder
from backend.models import Inspection, InspectionFinding, Staff

MAX_PAGE = 100
MAX_ITEMS = 100
MAX_FINDINGS = 20
DEPARTMENT_ROLES = frozenset({Role.handler.value, Role.officer.value})


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class FindingInput:
    description: str
    category_code: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    lat: float | None = None  # WGS-84; the inspection's place when None
    lng: float | None = None
    photos: Sequence[str] = ()
    create_case: bool = False
    urgency: Urgency | None = None


@dataclass(frozen=True)
class InspectionInput:
    place: str
    object_name: str
    inspected_at: datetime
    object_kind: str = ""
    lat: float | None = None  # WGS-84
    lng: float | None = None
    checklist: Sequence[ChecklistItem] = ()
    findings: Sequence[FindingInput] = ()
    notes: str = ""
    photos: Sequence[str] = field(default_factory=tuple)


@dataclass
class InspectionView:
    inspection: Inspection
    findings: list[InspectionFinding]


def _validate(data: InspectionInput) -> None:
    if not data.place.strip() or not data.object_name.strip():
        raise ValidationFailed("an inspection needs a place and an object", code="invalid_inspection")
    if not data.checklist:
        raise ValidationFailed("an inspection needs checklist items", code="invalid_inspection")
    if len(data.checklist) > MAX_ITEMS or len(data.findings) > MAX_FINDINGS:
        raise ValidationFailed("too many checklist items or findings", code="invalid_inspection")
    if (data.lat is None) != (data.lng is None):
        raise ValidationFailed("give both lat and lng, or neither", code="invalid_inspection")
    for finding in data.findings:
        if not finding.description.strip():
            raise ValidationFailed("a finding needs a description", code="invalid_inspection")
        if (finding.lat is None) != (finding.lng is None):
            raise ValidationFailed("give both lat and lng, or neither", code="invalid_inspection")


async def _open_case(
    session: AsyncSession,
    geocoder: GridGeocoder,
    actor: cases.Actor,
    inspection: Inspection,
    finding: InspectionFinding,
    urgency: Urgency | None,
    now: datetime,
    answers: dict[str, Any] | None = None,
) -> uuid.UUID:
    lat = finding.lat if finding.lat is not None else inspection.lat
    lng = finding.lng if finding.lng is not None else inspection.lng
    if finding.category_code is None or lat is None or lng is None:
        raise ValidationFailed(
            "a case needs the finding's category and a location",
            code="finding_incomplete",
            details={"seq": finding.seq},
        )
    result = await cases.intake(
        session,
        geocoder,
        actor,
        cases.IntakeData(
            source=CaseSource.inspection,
            category_code=finding.category_code,
            lat=lat,
            lng=lng,
            description=f"{inspection.object_name}：{finding.description}"[:2000],
            address=inspection.place[:200],
            urgency=urgency,
            answers={**finding.answers, **(answers or {})},
            photos=list(finding.photos),
        ),
        now=now,
    )
    finding.case_id = result.case.id
    await session.flush()
    return result.case.id


async def create_inspection(
    session: AsyncSession,
    geocoder: GridGeocoder,
    staff: Staff,
    actor: cases.Actor,
    data: InspectionInput,
    *,
    now: datetime | None = None,
) -> InspectionView:
    """记录检查 — the inspection, its findings, and a case for each finding marked ``create_case``."""
    now = now or datetime.now(UTC)
    _validate(data)
    for code in {f.category_code for f in data.findings if f.category_code is not None}:
        await cases.get_category(session, code)  # an unknown category is refused now, not when a case opens
    grid = geocoder.locate(data.lat, data.lng) if data.lat is not None and data.lng is not None else None
    inspection = Inspection(
        inspector_id=staff.id,
        department_id=staff.department_id,
        place=data.place.strip()[:200],
        lat=data.lat,
        lng=data.lng,
        grid_code=grid.code if grid else None,
        object_name=data.object_name.strip()[:100],
        object_kind=data.object_kind[:40],
        checklist=[{"item": c.item, "passed": c.passed, "note": c.note} for c in data.checklist],
        passed=all(c.passed for c in data.checklist),
        notes=data.notes,
        photos=list(data.photos),
        inspected_at=data.inspected_at,
    )
    session.add(inspection)
    await session.flush()
    findings = []
    for seq, f in enumerate(data.findings, start=1):
        finding = InspectionFinding(
            inspection_id=inspection.id,
            seq=seq,
            description=f.description.strip(),
            category_code=f.category_code,
            answers=dict(f.answers),
            lat=f.lat,
            lng=f.lng,
            photos=list(f.photos),
        )
        session.add(finding)
        findings.append(finding)
    await session.flush()
    for f, finding in zip(data.findings, findings, strict=True):
        if f.create_case:
            await _open_case(session, geocoder, actor, inspection, finding, f.urgency, now)
    return InspectionView(inspection, findings)


def _scope(viewer: Staff) -> ColumnElement[bool]:
    if is_supervisor(viewer):
        return true()
    clauses = [Inspection.inspector_id == viewer.id]
    if DEPARTMENT_ROLES & set(viewer.roles) and viewer.department_id is not None:
        clauses.append(Inspection.department_id == viewer.department_id)
    return or_(*clauses)


async def get_inspection(session: AsyncSession, viewer: Staff, inspection_id: uuid.UUID) -> InspectionView:
    inspection = await session.scalar(select(Inspection).where(Inspection.id == inspection_id, _scope(viewer)))
    if inspection is None:
        raise NotFound("no such inspection", code="inspection_not_found")
    findings = await session.scalars(
        select(InspectionFinding)
        .where(InspectionFinding.inspection_id == inspection.id)
        .order_by(InspectionFinding.seq)
    )
    return InspectionView(inspection, list(findings.all()))


def _cursor(inspection: Inspection) -> str:
    return f"{inspection.created_at.timestamp():.6f}_{inspection.id}"


async def list_inspections(
    session: AsyncSession, viewer: Staff, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Inspection], str | None]:
    """Inspections the viewer may see, newest first, cursor-paginated."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    stmt = select(Inspection).where(_scope(viewer))
    if cursor:
        try:
            ts, _, raw_id = cursor.partition("_")
            at, last_id = datetime.fromtimestamp(float(ts), UTC), uuid.UUID(raw_id)
        except (ValueError, OverflowError, OSError):  # "inf", "1e300", NaN: not a time
            raise ValidationFailed("invalid cursor", code="invalid_cursor") from None
        stmt = stmt.where(or_(Inspection.created_at < at, and_(Inspection.created_at == at, Inspection.id < last_id)))
    rows = list(
        (
            await session.scalars(stmt.order_by(Inspection.created_at.desc(), Inspection.id.desc()).limit(limit + 1))
        ).all()
    )
    return rows[:limit], _cursor(rows[limit - 1]) if len(rows) > limit else None


async def case_from_finding(
    session: AsyncSession,
    geocoder: GridGeocoder,
    viewer: Staff,
    actor: cases.Actor,
    inspection_id: uuid.UUID,
    seq: int,
    *,
    urgency: Urgency | None = None,
    answers: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> InspectionView:
    """立案线索 — open a case from a finding recorded earlier (one case per finding); ``answers`` complete
    the category's questions the finding left open."""
    view = await get_inspection(session, viewer, inspection_id)
    finding = next((f for f in view.findings if f.seq == seq), None)
    if finding is None:
        raise NotFound("no such finding", code="finding_not_found")
    if finding.case_id is not None:
        raise Conflict("a case was already opened from this finding", code="finding_has_case",
                       details={"case_id": str(finding.case_id)})  # fmt: skip
    await _open_case(session, geocoder, actor, view.inspection, finding, urgency, now or datetime.now(UTC), answers)
    if answers:
        finding.answers = {**finding.answers, **answers}
    return view
