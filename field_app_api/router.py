"""The field app surface (collectors, officers, department handlers), served under /api/field/v1."""

from litestar import Router

from field_app_api.controllers.auth import AuthController, MeController

router = Router(path="/api/field/v1", route_handlers=[AuthController, MeController], tags=["field-app"])
