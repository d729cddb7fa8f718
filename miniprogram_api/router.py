"""The citizen mini-program surface, served under /api/mp/v1."""

from litestar import Router

from miniprogram_api.controllers.regions import RegionController

router = Router(path="/api/mp/v1", route_handlers=[RegionController], tags=["mini-program"])
