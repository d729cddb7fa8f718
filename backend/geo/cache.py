"""The grid geocoder held in memory, loaded from the database and refreshed when grids change.

A change is noticed by a cheap fingerprint (count and latest ``updated_at`` of the grids), checked at
most every ``check_every`` seconds; ``invalidate()`` forces a reload (the grid import calls it)."""

from __future__ import annotations

import asyncio
import time

from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.geo.geocoder import GridGeocoder, GridShape
from backend.models import Grid


class GeocoderCache:
    def __init__(self, check_every: float = 10.0) -> None:
        self.check_every = check_every
        self._geocoder: GridGeocoder | None = None
        self._fingerprint: tuple[int, object] | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._checked_at = 0.0
        self._fingerprint = None

    async def get(self, session: AsyncSession) -> GridGeocoder:
        if self._geocoder is not None and time.monotonic() - self._checked_at < self.check_every:
            return self._geocoder
        async with self._lock:
            row = (await session.execute(select(func.count(), func.max(Grid.updated_at)).select_from(Grid))).one()
            fingerprint = (int(row[0]), row[1])
            if self._geocoder is None or fingerprint != self._fingerprint:
                grids = (await session.scalars(select(Grid))).all()
                self._geocoder = GridGeocoder(
                    GridShape(g.code, g.community_code, g.street_code, g.district_code, shape(g.boundary), g.name)
                    for g in grids
                )
                self._fingerprint = fingerprint
            self._checked_at = time.monotonic()
            return self._geocoder
