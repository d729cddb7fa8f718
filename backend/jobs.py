"""Job modules of the backend itself: periodic jobs registered with the worker."""

from __future__ import annotations

from typing import Any

from backend.cases.sweep import sweep
from backend.db import transaction


async def sweep_deadlines(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: yellow and red lights on running stages (idempotent)."""
    runtime = ctx["runtime"]
    async with transaction(runtime.session_factory) as session:
        result = await sweep(session)
    return {"yellow": result.yellow, "red": result.red}
