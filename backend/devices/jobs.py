"""Periodic jobs of the device domain (registered in ``backend/worker.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq import cron

from backend.db import transaction
from backend.devices.alarms import sweep_silence
from backend.devices.partitions import maintain
from backend.devices.settings import get_ingest_settings


async def maintain_readings_partitions(ctx: dict[str, Any]) -> dict[str, list[str]]:
    """Hourly and at worker start: day partitions ahead, expired ones dropped (retention)."""
    runtime = ctx["runtime"]
    done = await maintain(runtime.engine, get_ingest_settings())
    return {"created": [str(d) for d in done.created], "dropped": [str(d) for d in done.dropped]}


async def detect_silent_devices(ctx: dict[str, Any]) -> int:
    """Every minute: devices silent for N × their interval (or N minutes) raise their no_data alarm."""
    runtime = ctx["runtime"]
    async with transaction(runtime.session_factory) as session:
        raised = await sweep_silence(session, datetime.now(UTC))
    return len(raised)


CRON_JOBS = [
    cron(maintain_readings_partitions, minute={7}, second={0}, run_at_startup=True, unique=True, timeout=300),
    cron(detect_silent_devices, second={20}, unique=True, timeout=120),
]
