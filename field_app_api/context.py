"""What every field-work handler needs: the caller as staff and case ``Actor`` (device binding checked)
and the process's resources, as one ``FieldContext`` dependency; and the start-up of the surface."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorBody
from backend.field.ops import FieldContext
from backend.field.partitions import TrackPartitions
from backend.field.startup import prepare
from backend.field.tasks import field_actor
from backend.org.tokens import StaffClaims

PARTITIONS_KEY = "field_track_partitions"


def partitions_of(state: State) -> TrackPartitions:
    partitions: TrackPartitions | None = state.get(PARTITIONS_KEY)
    if partitions is None:
        partitions = TrackPartitions(state.runtime.engine)
        state[PARTITIONS_KEY] = partitions
    return partitions


async def on_startup(app: Litestar) -> None:
    app.state[PARTITIONS_KEY] = await prepare(app.state.runtime.engine)


async def provide_field_context(staff: StaffClaims, db_session: AsyncSession, state: State) -> FieldContext:
    member, actor = await field_actor(db_session, staff)
    runtime = state.runtime
    return FieldContext(
        session=db_session,
        redis=runtime.redis,
        storage=runtime.storage,
        partitions=partitions_of(state),
        staff=member,
        actor=actor,
        now=datetime.now(UTC),
    )


FIELD_DEPENDENCIES = {"field": Provide(provide_field_context)}


_DESCRIPTIONS = {
    400: "Invalid input (a bad field, a photo not uploaded, outside the geofence, …)",
    401: "Missing or invalid access token",
    403: "The caller's role may not do this, or the device is not the bound one",
    404: "No such object, or not the caller's",
    409: "Conflicts with the current state (the case moved on, already checked in, …)",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error responses a handler declares, each with the one error body."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False)
        for status in (401, 403, *statuses)
    }
