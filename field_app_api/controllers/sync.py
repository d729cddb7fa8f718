"""Offline sync (离线同步): a batch of writes made without a network, applied once each and in order."""

from __future__ import annotations

from collections import Counter

from litestar import Controller, post

from app.auth import require_roles
from backend.field import ops
from backend.field.enums import Outcome
from backend.field.ops import FieldContext
from field_app_api.context import FIELD_DEPENDENCIES, error_responses
from field_app_api.fieldwork_schemas import SyncIn, SyncOut


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]
    dependencies = FIELD_DEPENDENCIES

    @post(
        "",
        summary="Apply a batch of offline writes in order; one result per item "
        "(applied / duplicate with the original result / conflict with the current state / rejected)",
        status_code=200,
        guards=[require_roles("collector", "handler", "officer")],
        responses=error_responses(400),
    )
    async def sync(self, field: FieldContext, data: SyncIn) -> SyncOut:
        results = await ops.sync(field, data.items)
        counts = Counter(r.outcome for r in results)
        return SyncOut(
            results=results,
            applied=counts[Outcome.applied],
            duplicate=counts[Outcome.duplicate],
            conflict=counts[Outcome.conflict],
            rejected=counts[Outcome.rejected],
        )
