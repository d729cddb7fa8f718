"""The field app surface (collectors, officers, department handlers), served under /api/field/v1."""

from litestar import Router

from field_app_api.controllers.attendance import AttendanceController, ShiftController
from field_app_api.controllers.auth import AuthController, MeController
from field_app_api.controllers.inbox import InboxController, NotificationPreferencesController
from field_app_api.controllers.inspections import InspectionController
from field_app_api.controllers.sync import SyncController
from field_app_api.controllers.tasks import ReportController, TaskController, UploadController
from field_app_api.controllers.tracks import TrackController

router = Router(
    path="/api/field/v1",
    route_handlers=[
        AuthController,
        MeController,
        InboxController,
        NotificationPreferencesController,
        TaskController,
        ReportController,
        UploadController,
        ShiftController,
        AttendanceController,
        TrackController,
        SyncController,
        InspectionController,
    ],
    tags=["field-app"],
)
