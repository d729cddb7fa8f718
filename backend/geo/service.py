"""Region queries shared by every surface (district → street lists for pickers and filters)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import NotFound
from backend.models import District, Street


async def list_districts(session: AsyncSession) -> list[District]:
    return list((await session.scalars(select(District).order_by(District.code))).all())


async def list_streets(session: AsyncSession, district_code: str) -> list[Street]:
    if await session.get(District, district_code) is None:
        raise NotFound(f"no district with code {district_code!r}", code="district_not_found")
    return list(
        (await session.scalars(select(Street).where(Street.district_code == district_code).order_by(Street.code))).all()
    )
