"""Region pickers: districts and their streets (区/街道)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.geo import service
from miniprogram_api.schemas import RegionList, RegionOut


class RegionController(Controller):
    path = "/regions"
    tags = ["regions"]

    @get("/districts", summary="Districts of the city")
    async def districts(self, db_session: AsyncSession) -> RegionList:
        rows = await service.list_districts(db_session)
        return RegionList(items=[RegionOut(code=r.code, name=r.name) for r in rows])

    @get("/districts/{district_code:str}/streets", summary="Streets (街道) of one district")
    async def streets(
        self,
        db_session: AsyncSession,
        district_code: Annotated[str, Parameter(pattern=r"^[0-9]{6}$", description="6-digit district code")],
    ) -> RegionList:
        rows = await service.list_streets(db_session, district_code)
        return RegionList(items=[RegionOut(code=r.code, name=r.name) for r in rows])
