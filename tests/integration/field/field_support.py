"""Helpers of the field app tests: signed-in staff, cases in given states, shifts, uploaded photos."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from backend.cases import service as cases
from backend.cases.enums import CaseAction, CaseSource
from backend.cases.service import Actor, IntakeData
from backend.geo import GridGeocoder
from backend.geo.cache import GeocoderCache
from backend.models import AttendanceRecord, Case, Grid, Shift, Staff
from backend.org.passwords import hash_password
from backend.seed.demo import DEMO_PASSWORD

ZHUCHENG_GRID = "420117001001001"  # collector1's grids are 邾城街道's
YANGLUO_GRID = "420117002001001"  # nobody's grid
LOGIN = "/api/field/v1/auth/login"
JPEG = b"\xff\xd8\xff\xe0" + b"0" * 2048


def new_client_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


async def geocoder_of(db: Any) -> GridGeocoder:
    return await GeocoderCache().get(db)


async def staff(db: Any, username: str) -> Staff:
    member = await db.scalar(select(Staff).where(Staff.username == username))
    assert member is not None
    return member  # type: ignore[no-any-return]


async def actor(db: Any, username: str) -> Actor:
    s = await staff(db, username)
    return Actor.staff(s.id, s.roles, s.department_id, s.grid_codes)


async def grid_centre(db: Any, code: str) -> tuple[float, float]:
    grid = await db.get(Grid, code)
    assert grid is not None
    return (grid.min_lat + grid.max_lat) / 2, (grid.min_lng + grid.max_lng) / 2


async def add_collector(db: Any, username: str, grid_codes: list[str] | None = None) -> Staff:
    member = Staff(
        username=username,
        name=username,
        password_hash=hash_password(DEMO_PASSWORD),
        roles=["collector"],
        grid_codes=grid_codes or [],
    )
    db.add(member)
    await db.flush()
    return member


async def sign_in(client: httpx.AsyncClient, username: str, device_id: str | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"username": username, "password": DEMO_PASSWORD}
    if device_id is not None:
        body["device_id"] = device_id
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def reported_case(db: Any, geocoder: GridGeocoder, grid: str = ZHUCHENG_GRID, category: str = "E0101") -> Case:
    lat, lng = await grid_centre(db, grid)
    data = IntakeData(source=CaseSource.citizen, category_code=category, lat=lat, lng=lng,
                      description="路边堆了很多垃圾", address="邾城大街1号")  # fmt: skip
    result = await cases.intake(db, geocoder, Actor.citizen("citizen-alice"), data)
    return result.case


async def dispatched_case(db: Any, geocoder: GridGeocoder, grid: str = ZHUCHENG_GRID, category: str = "E0101") -> Case:
    """暴露垃圾 in 邾城: accepted and auto-dispatched to 环卫 (handler1's department)."""
    case = await reported_case(db, geocoder, grid, category)
    await cases.accept(db, await actor(db, "seat1"), case.id)
    assert case.state == "dispatched"
    return case


async def disposed_case(db: Any, geocoder: GridGeocoder, grid: str = ZHUCHENG_GRID) -> Case:
    case = await dispatched_case(db, geocoder, grid)
    handler = await actor(db, "handler1")
    await cases.step(db, handler, case.id, CaseAction.take)
    await cases.step(db, handler, case.id, CaseAction.finish, attachments=["field/x.jpg"])
    assert case.state == "disposed"
    return case


async def fresh(db: Any, case: Case) -> Case:
    row = await db.scalar(select(Case).where(Case.id == case.id).execution_options(populate_existing=True))
    assert row is not None
    return row  # type: ignore[no-any-return]


@dataclass
class OnShift:
    shift: Shift
    record: AttendanceRecord | None


async def put_on_shift(
    db: Any, member: Staff, grid_codes: list[str], *, checked_in: bool = True, start: datetime | None = None
) -> OnShift:
    """A shift around now (from 2 h ago for 8 h) in ``grid_codes``, checked in unless told otherwise."""
    from backend.field.rules import local_day

    starts_at = start or now() - timedelta(hours=2)
    shift = Shift(
        staff_id=member.id,
        day=local_day(starts_at),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=8),
        grid_codes=grid_codes,
        note="",
    )
    db.add(shift)
    await db.flush()
    record = None
    if checked_in:
        record = AttendanceRecord(shift_id=shift.id, staff_id=member.id, day=shift.day, check_in_at=starts_at)
        db.add(record)
        await db.flush()
    return OnShift(shift, record)


async def upload_photo(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Presign through the API, PUT to the S3 server like the app does, return the key."""
    presigned = await client.post("/api/field/v1/uploads", json={"content_type": "image/jpeg"}, headers=headers)
    assert presigned.status_code == 200, presigned.text
    body = presigned.json()
    async with httpx.AsyncClient() as s3:
        put = await s3.put(body["url"], content=JPEG, headers=body["headers"])
        assert put.status_code == 200, put.text
    return str(body["key"])
