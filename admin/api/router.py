"""The admin console's JSON API, served under /api/admin/v1 (staff bearer tokens, role guards).

It sits in ``admin/`` beside the sqladmin console because the console is its client: the console's pages
and this API are the one admin surface, and both call the same backend services."""

from litestar import Router

from admin.api.controllers.evaluation import EvaluationController

router = Router(path="/api/admin/v1", route_handlers=[EvaluationController], tags=["admin"])
