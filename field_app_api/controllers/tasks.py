"""The task inbox (任务): 核实/核查 for collectors, dispatched cases for handlers and officers; case detail
with the actions open to the caller; the actions themselves; a collector's report (即办件 included);
and presigned photo uploads."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter

from app.auth import require_roles
from backend.cases.enums import CaseAction, CaseState
from backend.field.enums import OpKind, TaskKind
from backend.field.ops import CaseResult, FieldContext
from backend.field.photos import presign_photo
from backend.field.tasks import MAX_PAGE, TaskDetail, TaskView, list_tasks, task_detail
from backend.geo import CoordSystem, from_wgs84
from backend.models import CaseEvent
from backend.storage import StorageService
from field_app_api.context import FIELD_DEPENDENCIES, apply_write, error_responses, write_endpoint
from field_app_api.fieldwork_schemas import (
    ActionOut,
    CheckTaskIn,
    EventOut,
    ExtensionIn,
    FinishIn,
    PhotoOut,
    ReportIn,
    ReturnIn,
    TakeIn,
    TaskDetailOut,
    TaskOut,
    TaskPageOut,
    UploadIn,
    UploadOut,
    VerifyIn,
)

FIELD_ROLES = ("collector", "handler", "officer")
HANDLER_ROLES = ("handler", "officer")
COLLECTOR_ROLES = ("collector",)
EVENT_LABELS = {"report": "上报", "field_assign": "派发外勤任务", "merge_in": "合并并入"}


def _task_fields(view: TaskView, coord: CoordSystem) -> dict[str, object]:
    case = view.case
    lat, lng = from_wgs84(case.lat, case.lng, coord)
    return {
        "case_id": str(case.id),
        "number": case.number,
        "task": view.kind,
        "task_label": view.kind.label if view.kind else None,
        "state": case.state,
        "state_label": CaseState(case.state).label,
        "category_code": case.category_code,
        "category_name": view.category_name,
        "description": case.description,
        "address": case.address,
        "lat": lat,
        "lng": lng,
        "coord": coord,
        "urgency": case.urgency,
        "light": case.light,
        "deadline": case.deadline,
        "created_at": case.created_at,
        "assigned_to_me": view.assigned_to_me,
        "actions": [ActionOut(a.value, a.label) for a in view.actions],
    }


def _photo(storage: StorageService, key: str) -> PhotoOut:
    return PhotoOut(key=key, url=storage.presign_get(key))


def _event(storage: StorageService, e: CaseEvent) -> EventOut:
    label = (
        CaseAction(e.action).label
        if e.action in CaseAction.__members__.values()
        else EVENT_LABELS.get(e.action, e.action)
    )
    return EventOut(
        seq=e.seq,
        action=e.action,
        label=label,
        from_state=e.from_state,
        to_state=e.to_state,
        actor_role=e.actor_role,
        note=e.note,
        attachments=[_photo(storage, k) for k in e.attachments],
        at=e.created_at,
    )


def _detail_out(detail: TaskDetail, coord: CoordSystem, storage: StorageService) -> TaskDetailOut:
    case = detail.task.case
    return TaskDetailOut(
        **_task_fields(detail.task, coord),  # type: ignore[arg-type]
        version=case.version,
        grid_code=case.grid_code,
        main_department_id=str(case.main_department_id) if case.main_department_id else None,
        extension_pending=case.extension_request is not None,
        photos=[_photo(storage, k) for k in case.photos],
        timeline=[_event(storage, e) for e in detail.events],
    )


CoordParam = Annotated[CoordSystem, Parameter(description="Coordinate system of lat/lng in the answer")]


def _case_step(action: str, summary: str, roles: tuple[str, ...]) -> post:
    """``POST /tasks/{case_id}/<action>``: one step of a case's workflow, answered with the case as it is now."""
    return write_endpoint(f"/{{case_id:uuid}}/{action}", summary=summary, roles=roles, errors=(400, 404, 409))


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]
    dependencies = FIELD_DEPENDENCIES

    @get(
        "",
        summary="My open field tasks (核实/核查 for collectors, dispatched cases for handlers), newest first",
        guards=[require_roles(*FIELD_ROLES)],
        responses=error_responses(400),
    )
    async def list_tasks(
        self,
        field: FieldContext,
        kind: TaskKind | None = None,
        coord: CoordParam = CoordSystem.GCJ02,
        limit: int = Parameter(default=20, ge=1, le=MAX_PAGE),
        cursor: str | None = Parameter(default=None, max_length=80),
    ) -> TaskPageOut:
        page = await list_tasks(field.session, field.actor, kind=kind, limit=limit, cursor=cursor)
        return TaskPageOut([TaskOut(**_task_fields(v, coord)) for v in page.items], page.next_cursor)  # type: ignore[arg-type]

    @get(
        "/{case_id:uuid}",
        summary="One case with its timeline and the actions open to me",
        guards=[require_roles(*FIELD_ROLES)],
        responses=error_responses(404),
    )
    async def get_task(
        self, field: FieldContext, case_id: uuid.UUID, coord: CoordParam = CoordSystem.GCJ02
    ) -> TaskDetailOut:
        detail = await task_detail(field.session, field.actor, case_id)
        return _detail_out(detail, coord, field.storage)

    @_case_step("take", "签收 — take a dispatched case", HANDLER_ROLES)
    async def take(self, field: FieldContext, case_id: uuid.UUID, data: TakeIn) -> CaseResult:
        return await apply_write(field, OpKind.case_take, data, CaseResult, case_id=case_id)

    @_case_step("finish", "处置完成 — with photos of the result (upload first, then list their keys)", HANDLER_ROLES)
    async def finish(self, field: FieldContext, case_id: uuid.UUID, data: FinishIn) -> CaseResult:
        return await apply_write(field, OpKind.case_finish, data, CaseResult, case_id=case_id)

    @_case_step("return", "回退 — not our department's case", HANDLER_ROLES)
    async def return_case(self, field: FieldContext, case_id: uuid.UUID, data: ReturnIn) -> CaseResult:
        return await apply_write(field, OpKind.case_return, data, CaseResult, case_id=case_id)

    @_case_step("extension", "延期申请 — ask for more time (one pending request at a time)", HANDLER_ROLES)
    async def extension(self, field: FieldContext, case_id: uuid.UUID, data: ExtensionIn) -> CaseResult:
        return await apply_write(field, OpKind.case_extension, data, CaseResult, case_id=case_id)

    @_case_step("verify", "核实反馈 — is the reported problem real?", COLLECTOR_ROLES)
    async def verify(self, field: FieldContext, case_id: uuid.UUID, data: VerifyIn) -> CaseResult:
        return await apply_write(field, OpKind.case_verify, data, CaseResult, case_id=case_id)

    @_case_step("check", "核查 — pass closes the case (结案), fail sends it back (返工)", COLLECTOR_ROLES)
    async def check(self, field: FieldContext, case_id: uuid.UUID, data: CheckTaskIn) -> CaseResult:
        return await apply_write(field, OpKind.case_check, data, CaseResult, case_id=case_id)


class ReportController(Controller):
    path = "/reports"
    tags = ["tasks"]
    dependencies = FIELD_DEPENDENCIES

    @write_endpoint(
        "",
        summary="监督员上报 — report a problem; close_on_spot reports and closes it at once (即办件)",
        roles=COLLECTOR_ROLES,
        errors=(400, 409),
    )
    async def report(self, field: FieldContext, data: ReportIn) -> CaseResult:
        return await apply_write(field, OpKind.case_report, data, CaseResult)


class UploadController(Controller):
    path = "/uploads"
    tags = ["tasks"]
    dependencies = FIELD_DEPENDENCIES

    @post(
        "",
        summary="A presigned URL to upload one photo straight to storage",
        status_code=200,
        guards=[require_roles(*FIELD_ROLES)],
        responses=error_responses(400),
    )
    async def upload(self, field: FieldContext, data: UploadIn) -> UploadOut:
        upload = presign_photo(field.storage, field.staff.id, data.content_type)
        return UploadOut(
            key=upload.key,
            method=upload.method,
            url=upload.url,
            headers=upload.headers,
            max_bytes=upload.max_bytes,
            content_type=upload.content_type,
            expires_at=upload.expires_at,
        )
