"""Shared bits of the mini-program controllers: declared error responses and output helpers."""

from __future__ import annotations

from datetime import datetime

from litestar.openapi.datastructures import ResponseSpec

from app.errors import ErrorBody
from backend.geo import CoordSystem, from_wgs84
from backend.worktime import SHANGHAI
from miniprogram_api.schemas import PointOut

WECHAT_DOWN = {503: ResponseSpec(data_container=ErrorBody, description="WeChat could not be reached; try again")}
SIGNED_IN = {401: ResponseSpec(data_container=ErrorBody, description="Not signed in, or the session expired")}


def local(at: datetime) -> datetime:
    """Citizen-facing instants are shown in Asia/Shanghai (RFC 3339 with +08:00)."""
    return at.astimezone(SHANGHAI)


def point(lat: float, lng: float, coord: str) -> PointOut:
    out = from_wgs84(lat, lng, CoordSystem(coord))
    return PointOut(lat=round(out.lat, 7), lng=round(out.lng, 7), coord=coord)
