"""Helpers of the places tests: toilets and lots placed around a point far from the demo city's own,
live readings written like device ingest writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from backend import live
from backend.geo import destination_point
from backend.live import MetricUpdate
from backend.models import ParkingLot, Toilet
from backend.parking import service as parking
from backend.toilets import service as toilets

MP = "/api/mp/v1"
# Wuhan's old town (江汉路): no demo toilet or lot within 10 km, so a test sees only its own places.
CENTRE = (30.5800, 114.2900)


def around(bearing_deg: float, metres: float) -> tuple[float, float]:
    point = destination_point(*CENTRE, bearing_deg, metres)
    return point.lat, point.lng


async def add_toilet(db: AsyncSession, code: str, bearing: float, metres: float, **fields: Any) -> Toilet:
    lat, lng = around(bearing, metres)
    data: dict[str, Any] = {"name": f"测试公厕 {code}", "level": 2, **fields}
    return await toilets.create_toilet(db, toilets.ToiletInput(code=code, lat=lat, lng=lng, **data))


async def add_lot(db: AsyncSession, code: str, bearing: float, metres: float, **fields: Any) -> ParkingLot:
    lat, lng = around(bearing, metres)
    data: dict[str, Any] = {"name": f"测试停车场 {code}", "capacity": {"normal": 50}, **fields}
    return await parking.create_lot(db, parking.LotInput(code=code, lat=lat, lng=lng, **data))


async def report(
    redis: Redis, kind: str, object_id: str, *, age_s: float = 5, interval_s: int = 60, **metrics: Any
) -> datetime:
    """Write readings to the live state as ingest does after commit; returns their time."""
    ts = datetime.now(UTC) - timedelta(seconds=age_s)
    await live.write(
        redis,
        kind,
        object_id,
        [MetricUpdate(name, value, ts, "test-device", interval_s) for name, value in metrics.items()],
    )
    return ts


async def sign_in(client: Any, code: str = "dev-alice") -> dict[str, str]:
    response = await client.post(f"{MP}/auth/login", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
