"""Inspections (执法检查): record one, list and read them, open a case from a finding."""

from __future__ import annotations

import uuid

from litestar import Controller, get
from litestar.params import Parameter

from backend.field import inspections
from backend.field.enums import OpKind
from backend.field.ops import FieldContext, InspectionResult
from backend.geo import CoordSystem, from_wgs84
from backend.models import Inspection
from field_app_api.context import FIELD_DEPENDENCIES, apply_write, error_responses, write_endpoint
from field_app_api.fieldwork_schemas import (
    ChecklistItemOut,
    FindingCaseIn,
    FindingOut,
    InspectionIn,
    InspectionOut,
    InspectionPageOut,
    InspectionSummaryOut,
)

INSPECTOR_ROLES = ("officer", "handler")


def _summary_fields(i: Inspection) -> dict[str, object]:
    return {
        "id": str(i.id),
        "inspector_id": str(i.inspector_id),
        "department_id": str(i.department_id) if i.department_id else None,
        "place": i.place,
        "object_name": i.object_name,
        "object_kind": i.object_kind,
        "passed": i.passed,
        "inspected_at": i.inspected_at,
        "created_at": i.created_at,
    }


def _inspection_out(view: inspections.InspectionView, coord: CoordSystem) -> InspectionOut:
    i = view.inspection

    def point(lat: float | None, lng: float | None) -> tuple[float | None, float | None]:
        return (lat, lng) if lat is None or lng is None else from_wgs84(lat, lng, coord)

    lat, lng = point(i.lat, i.lng)
    findings = []
    for f in view.findings:
        f_lat, f_lng = point(f.lat, f.lng)
        findings.append(
            FindingOut(
                seq=f.seq,
                description=f.description,
                category_code=f.category_code,
                answers=f.answers,
                lat=f_lat,
                lng=f_lng,
                photos=list(f.photos),
                case_id=str(f.case_id) if f.case_id else None,
            )
        )
    return InspectionOut(
        **_summary_fields(i),  # type: ignore[arg-type]
        lat=lat,
        lng=lng,
        coord=coord,
        grid_code=i.grid_code,
        checklist=[ChecklistItemOut(c["item"], c["passed"], c.get("note", "")) for c in i.checklist],
        notes=i.notes,
        photos=list(i.photos),
        findings=findings,
    )


class InspectionController(Controller):
    path = "/inspections"
    tags = ["inspections"]
    dependencies = FIELD_DEPENDENCIES

    @write_endpoint(
        "",
        summary="执法检查 — record an inspection; findings marked create_case open cases (source inspection)",
        roles=INSPECTOR_ROLES,
        errors=(400, 409),
    )
    async def create(self, field: FieldContext, data: InspectionIn) -> InspectionResult:
        return await apply_write(field, OpKind.inspection_create, data, InspectionResult)

    @get("", summary="Inspections I may see (mine, my department's), newest first", responses=error_responses(400))
    async def list_inspections(
        self,
        field: FieldContext,
        limit: int = Parameter(default=20, ge=1, le=inspections.MAX_PAGE),
        cursor: str | None = Parameter(default=None, max_length=80),
    ) -> InspectionPageOut:
        rows, next_cursor = await inspections.list_inspections(field.session, field.staff, limit=limit, cursor=cursor)
        return InspectionPageOut([InspectionSummaryOut(**_summary_fields(i)) for i in rows], next_cursor)  # type: ignore[arg-type]

    @get("/{inspection_id:uuid}", summary="One inspection with its findings", responses=error_responses(404))
    async def get_inspection(
        self, field: FieldContext, inspection_id: uuid.UUID, coord: CoordSystem = CoordSystem.GCJ02
    ) -> InspectionOut:
        view = await inspections.get_inspection(field.session, field.staff, inspection_id)
        return _inspection_out(view, coord)

    @write_endpoint(
        "/{inspection_id:uuid}/findings/{seq:int}/case",
        summary="Open a case from a finding (once per finding)",
        roles=INSPECTOR_ROLES,
        errors=(400, 404, 409),
    )
    async def case_from_finding(
        self, field: FieldContext, inspection_id: uuid.UUID, seq: int, data: FindingCaseIn
    ) -> InspectionResult:
        return await apply_write(
            field, OpKind.finding_case, data, InspectionResult, inspection_id=inspection_id, seq=seq
        )
