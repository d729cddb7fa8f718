"""What every field-work handler needs: the caller as staff and case ``Actor`` (device binding checked)
and the process's resources, as one ``FieldContext`` dependency; the start-up of the surface; and the
handling every write endpoint shares (``write_endpoint``, ``apply_write``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from litestar import Litestar, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.errors import ErrorBody
from backend.field import ops
from backend.field.enums import OpKind
from backend.field.ops import FieldContext, OpResult
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


# --- writes ------------------------------------------------------------------------------------------

R = TypeVar("R", bound=OpResult)


class WriteBody(Protocol):
    """A write's request body: the client's id and time, then the fields of the write's payload."""

    client_id: str
    client_ts: datetime


def write_endpoint(path: str, *, summary: str, roles: Iterable[str], errors: tuple[int, ...]) -> post:
    """A write endpoint: POST for staff with one of ``roles``, answered 200 with the write's result (the
    stored one again when the write's ``client_id`` was seen before), its ``errors`` declared."""
    return post(
        path, summary=summary, status_code=200, guards=[require_roles(*roles)], responses=error_responses(*errors)
    )


async def apply_write(field: FieldContext, kind: OpKind, data: WriteBody, answer: type[R], **ids: object) -> R:
    """Apply the write ``data`` once (``ops.apply``) and return its result, of type ``answer``. Its payload
    is the body's fields that the kind's payload type has, plus the ids from the path (``case_id=…``)."""
    payload_type = ops.PAYLOADS[kind]
    sent = {name: getattr(data, name) for name in payload_type.__struct_fields__ if name not in ids}
    _, result = await ops.apply(field, kind, data.client_id, data.client_ts, payload_type(**sent, **ids))
    assert isinstance(result, answer)
    return result
