"""What device ingest needs before the first batch: partitions around today and the reference data."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import create_session_factory, transaction
from backend.devices.partitions import Maintenance, maintain
from backend.devices.seed import seed_reference_data
from backend.devices.settings import IngestSettings


async def prepare(engine: AsyncEngine, settings: IngestSettings) -> Maintenance:
    """Create the readings partitions (yesterday … days ahead) and insert the missing device types
    and default alarm rules. Idempotent; safe in several processes at once. (Dropping expired
    partitions needs a lock that waits for ingest, so it is left to the periodic job.)"""
    done = await maintain(engine, settings, drop=False)
    async with transaction(create_session_factory(engine)) as session:
        await seed_reference_data(session)
    return done
