"""Periodic job of the places: the nearby indexes checked against PostgreSQL (healed if they differ)."""

from __future__ import annotations

from typing import Any

from arq import cron

from backend.places.startup import heal


async def check_place_indexes(ctx: dict[str, Any]) -> dict[str, bool]:
    runtime = ctx["runtime"]
    return await heal(runtime.session_factory, runtime.redis)


CRON_JOBS = [cron(check_place_indexes, minute=set(range(2, 60, 5)), second={15}, unique=True, timeout=120)]
