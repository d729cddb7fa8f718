"""Fixtures of the case core: actors from the seeded demo staff, the geocoder, a fixed clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from backend.cases.service import Actor
from backend.geo import GridGeocoder
from backend.geo.cache import GeocoderCache
from backend.models import Department, Grid, Staff
from backend.worktime import SHANGHAI

# Monday 2026-11-23 09:00 in Shanghai: an ordinary working morning.
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
async def geocoder(db: Any) -> GridGeocoder:
    return await GeocoderCache().get(db)


async def staff_actor(db: Any, username: str) -> Actor:
    staff = await db.scalar(select(Staff).where(Staff.username == username))
    assert staff is not None
    return Actor.staff(staff.id, staff.roles, staff.department_id, staff.grid_codes)


async def department_id(db: Any, code: str) -> Any:
    dept = await db.scalar(select(Department.id).where(Department.code == code))
    assert dept is not None
    return dept


async def grid_centre(db: Any, code: str) -> tuple[float, float]:
    grid = await db.get(Grid, code)
    assert grid is not None
    return (grid.min_lat + grid.max_lat) / 2, (grid.min_lng + grid.max_lng) / 2


@pytest.fixture
async def actors(db: Any) -> dict[str, Actor]:
    names = ["seat1", "dispatcher1", "lead1", "collector1", "handler1", "officer1", "admin", "auditor1"]
    return {n: await staff_actor(db, n) for n in names}
