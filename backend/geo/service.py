"""Region queries shared by every surface (district → street lists for pickers and filters)."""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import NotFound
from backend.models import Community, District, Grid, Street


async def list_districts(session: AsyncSession) -> list[District]:
    return list((await session.scalars(select(District).order_by(District.code))).all())


async def list_streets(session: AsyncSession, district_code: str) -> list[Street]:
    if await session.get(District, district_code) is None:
        raise NotFound(f"no district with code {district_code!r}", code="district_not_found")
    return list(
        (await session.scalars(select(Street).where(Street.district_code == district_code).order_by(Street.code))).all()
    )


@dataclass(frozen=True)
class PickerGrid:
    code: str
    name: str
    street_code: str
    district_code: str


async def grid_picker(session: AsyncSession) -> tuple[list[District], list[Street], list[PickerGrid]]:
    """Every district, street and grid (codes and names only) for a district → street → grid picker."""
    districts = list((await session.scalars(select(District).order_by(District.code))).all())
    streets = list((await session.scalars(select(Street).order_by(Street.code))).all())
    rows = await session.execute(select(Grid.code, Grid.name, Grid.street_code, Grid.district_code).order_by(Grid.code))
    return districts, streets, [PickerGrid(*row) for row in rows.all()]


async def grid_point(session: AsyncSession, grid_code: str) -> tuple[float, float, Grid]:
    """A point inside a grid (WGS-84 ``lat, lng``), for a report placed by grid rather than on a map."""
    grid = await session.get(Grid, grid_code)
    if grid is None:
        raise NotFound(f"no grid with code {grid_code!r}", code="grid_not_found")
    point = shape(grid.boundary).representative_point()
    return round(point.y, 7), round(point.x, 7), grid


async def region_names(session: AsyncSession, codes: list[str | None]) -> dict[str, str]:
    """Names of the districts, streets, communities and grids among ``codes`` (others are left out)."""
    wanted = sorted({c for c in codes if c})
    names: dict[str, str] = {}
    for model in (District, Street, Community, Grid):
        level = [c for c in wanted if len(c) == model.code.type.length]
        if level:
            rows = await session.execute(select(model.code, model.name).where(model.code.in_(level)))
            names.update({code: name for code, name in rows.all()})
    return names
