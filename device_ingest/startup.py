"""Start-up of the ingest surface: readings partitions and device reference data, and the
process's ``Ingestor`` (kept in the app state)."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.datastructures import State

from backend.devices.ingest import Ingestor
from backend.devices.startup import prepare

log = logging.getLogger("chengguan.ingest")


def ingestor_of(state: State) -> Ingestor:
    ingestor: Ingestor | None = state.get("device_ingestor")
    if ingestor is None:
        runtime = state.runtime
        ingestor = Ingestor(runtime.engine, runtime.redis, runtime.settings.app.secret_key)
        state.device_ingestor = ingestor
    return ingestor


async def on_startup(app: Litestar) -> None:
    ingestor = ingestor_of(app.state)
    try:
        await prepare(ingestor.engine, ingestor.settings)
    except Exception:  # the database may be down at start-up: ingest creates partitions on demand
        log.exception("could not prepare device ingest storage at start-up; will retry on demand")
