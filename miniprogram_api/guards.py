"""Dependencies of the mini-program surface: the signed-in citizen (our own session token, never a
staff JWT), the WeChat provider, the grid geocoder."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens import service as citizens
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider, get_provider
from backend.errors import Unauthorized
from backend.geo import GridGeocoder
from backend.geo.cache import GeocoderCache

CITIZEN_KEY = "_chengguan_citizen"

# One per process: the grid layer in memory, reloaded when the grids change.
GEOCODER = GeocoderCache()


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer session token is required; log in with wx.login first", code="unauthorized")
    return token.strip()


async def provide_citizen(request: Any) -> CitizenPrincipal:
    state = request.scope.setdefault("state", {})
    cached = state.get(CITIZEN_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    principal = await citizens.authenticate(request.app.state.runtime.redis, bearer_token(request))
    state[CITIZEN_KEY] = principal
    return principal


def provide_wechat() -> MiniProgramProvider:
    return get_provider()


async def provide_geocoder(db_session: AsyncSession) -> GridGeocoder:
    return await GEOCODER.get(db_session)
