"""Start-up of the toilet finder and parking guidance: nearby indexes checked and kept in step."""

from __future__ import annotations

from litestar import Litestar

from backend.places.live_cache import LISTENER
from backend.places.startup import prepare


async def on_startup(app: Litestar) -> None:
    runtime = app.state.runtime
    await prepare(runtime.session_factory, runtime.redis)
    LISTENER.start(runtime.redis)  # live-state changes drop the nearby views' cached entries


async def on_shutdown(app: Litestar) -> None:
    await LISTENER.stop()
