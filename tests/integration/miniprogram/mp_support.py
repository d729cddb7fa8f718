"""Helpers of the mini-program tests: sign in, upload photos through presigned URLs, run the media job,
drive a case to closure with the demo staff."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import service as cases
from backend.cases.enums import CaseAction
from backend.cases.service import Actor
from backend.citizens.wechat import MiniProgramProvider, get_provider
from backend.geo import wgs84_to_gcj02
from backend.media.jobs import MediaContext, process
from backend.models import Case, Grid, MediaUpload, Staff
from tests.integration.cases.conftest import MONDAY_9

MP = "/api/mp/v1"
ZHUCHENG_GRID = "420117001001001"  # in 邾城街道; E0101 goes to 环卫 by the district rule

__all__ = ["MONDAY_9", "MP"]


async def sign_in(client: httpx.AsyncClient, code: str = "dev-alice") -> dict[str, str]:
    response = await client.post(f"{MP}/auth/login", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def grid_point(db: AsyncSession, code: str = ZHUCHENG_GRID) -> tuple[float, float]:
    """The WGS-84 centre of a grid."""
    grid = await db.get(Grid, code)
    assert grid is not None
    return (grid.min_lat + grid.max_lat) / 2, (grid.min_lng + grid.max_lng) / 2


async def gcj_point(db: AsyncSession, code: str = ZHUCHENG_GRID) -> tuple[float, float]:
    lat, lng = await grid_point(db, code)
    out = wgs84_to_gcj02(lat, lng)
    return out.lat, out.lng


async def upload_photo(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    content_type: str = "image/jpeg",
    *,
    sent_type: str | None = None,
    method: str = "put",
) -> str:
    """Ask for a presigned URL and upload ``data`` to the S3 server with it; returns the key."""
    response = await client.post(
        f"{MP}/uploads", json={"content_type": content_type, "method": method}, headers=headers
    )
    assert response.status_code == 201, response.text
    upload = response.json()
    async with httpx.AsyncClient(timeout=10) as s3:
        if upload["method"] == "PUT":
            put_headers = dict(upload["headers"])
            if sent_type:
                put_headers["Content-Type"] = sent_type
            stored = await s3.put(upload["url"], content=data, headers=put_headers)
        else:
            stored = await s3.post(upload["url"], data=upload["fields"], files={"file": ("photo", data, content_type)})
    assert stored.status_code in {200, 201, 204}, stored.text
    return str(upload["key"])


async def report_body(db: AsyncSession, **overrides: Any) -> dict[str, Any]:
    lat, lng = await gcj_point(db)
    body: dict[str, Any] = {
        "category_code": "E0101",
        "lat": lat,
        "lng": lng,
        "address": "邾城街道新洲大道12号旁",
        "description": "路边堆了很多垃圾，气味很大",
    }
    body.update(overrides)
    return body


async def count(db: AsyncSession, model: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def process_photos(
    db: AsyncSession, runtime: Any, case_id: str | uuid.UUID, provider: MiniProgramProvider | None = None
) -> list[MediaUpload]:
    """Run the ``media.process`` job for every photo of a case (what the worker does after commit)."""
    context = MediaContext(storage=runtime.storage, provider=provider or get_provider())
    ids = (await db.scalars(select(MediaUpload.id).where(MediaUpload.case_id == uuid.UUID(str(case_id))))).all()
    done = []
    for upload_id in ids:
        upload = await process(db, upload_id, context)
        assert upload is not None
        done.append(upload)
    await db.flush()
    return done


async def staff(db: AsyncSession, username: str) -> Actor:
    member = await db.scalar(select(Staff).where(Staff.username == username))
    assert member is not None
    return Actor.staff(member.id, member.roles, member.department_id, member.grid_codes)


async def close_case(db: AsyncSession, case_id: str | uuid.UUID) -> Case:
    """立案 → auto-dispatch to 环卫 → take → finish → check passed, with the demo staff."""
    cid = uuid.UUID(str(case_id))
    await cases.accept(db, await staff(db, "seat1"), cid)
    handler = await staff(db, "handler1")
    await cases.step(db, handler, cid, CaseAction.take)
    await cases.step(db, handler, cid, CaseAction.finish)
    case = await cases.check(db, await staff(db, "collector1"), cid, passed=True)
    await db.flush()
    return case
