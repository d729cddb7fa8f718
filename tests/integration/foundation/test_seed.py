"""The demo city: real streets of 新洲区, generated communities and grids that cover them."""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape
from sqlalchemy import func, select

from backend.geo.geocoder import GridGeocoder, GridShape
from backend.models import Community, Department, District, Grid, Staff, Street
from backend.seed.demo import DEMO_LOGINS, is_seeded, seed_demo_in


async def test_demo_city_is_complete(db: Any) -> None:
    assert await db.scalar(select(func.count()).select_from(District)) == 13
    xinzhou = (await db.scalars(select(Street).where(Street.district_code == "420117"))).all()
    assert len(xinzhou) == 15 and all(s.boundary for s in xinzhou)
    assert {s.name for s in xinzhou} >= {"邾城街道", "阳逻街道", "凤凰镇"}
    assert await db.scalar(select(func.count()).select_from(Community)) == 60
    assert await db.scalar(select(func.count()).select_from(Grid)) == 540
    usernames = set((await db.scalars(select(Staff.username))).all())
    assert {u for u, _, _ in DEMO_LOGINS} <= usernames
    assert await db.scalar(select(func.count()).select_from(Department)) >= 5


async def test_grids_geocode_to_themselves_and_to_their_street(db: Any) -> None:
    grids = (await db.scalars(select(Grid))).all()
    geocoder = GridGeocoder(
        GridShape(g.code, g.community_code, g.street_code, g.district_code, shape(g.boundary)) for g in grids
    )
    for g in grids:
        centre = shape(g.boundary).centroid
        found = geocoder.locate(centre.y, centre.x)
        assert found is not None and found.code == g.code and found.street_code == g.code[:9]


async def test_seeding_twice_adds_nothing(db: Any) -> None:
    assert await is_seeded(db)
    before = await db.scalar(select(func.count()).select_from(Grid))
    await seed_demo_in(db)
    assert await db.scalar(select(func.count()).select_from(Grid)) == before
    assert await db.scalar(select(func.count()).select_from(Staff).where(Staff.username == "admin")) == 1
