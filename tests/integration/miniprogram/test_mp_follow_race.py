"""我也遇到 tapped twenty times at once by one citizen, through the API with real commits: one tap adds
them, the others answer "already following", and the case has them once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.cases import service
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData
from backend.db import create_session_factory, transaction
from backend.geo.cache import GeocoderCache
from backend.models import Case, CaseReporter, Citizen, OutboxMessage
from tests.integration.miniprogram.mp_support import MONDAY_9, MP, grid_point, sign_in


@pytest.fixture
async def committed(engine: AsyncEngine, seeded: bool) -> AsyncIterator[dict[str, list[uuid.UUID]]]:
    """What the test commits for real, removed afterwards."""
    made: dict[str, list[uuid.UUID]] = {"cases": [], "citizens": []}
    yield made
    async with transaction(create_session_factory(engine)) as s:
        cases = [str(c) for c in made["cases"]]
        await s.execute(delete(OutboxMessage).where(OutboxMessage.payload["case_id"].astext.in_(cases)))
        await s.execute(delete(Case).where(Case.id.in_(made["cases"])))  # events and reporters go with it
        await s.execute(delete(Citizen).where(Citizen.id.in_(made["citizens"])))


async def test_twenty_simultaneous_me_too_taps_add_the_citizen_once(
    live_client: httpx.AsyncClient, engine: AsyncEngine, committed: dict[str, list[uuid.UUID]]
) -> None:
    factory = create_session_factory(engine)
    async with transaction(factory) as s:
        lat, lng = await grid_point(s)
        result = await service.intake(
            s, await GeocoderCache().get(s), Actor.citizen("citizen-first-reporter"),
            IntakeData(source=CaseSource.citizen, category_code="E0101", lat=lat, lng=lng, description="垃圾"),
            now=MONDAY_9,
        )  # fmt: skip
        case_id = result.case.id
    committed["cases"].append(case_id)
    bob = await sign_in(live_client, f"dev-race_{uuid.uuid4().hex[:12]}")
    me = (await live_client.get(f"{MP}/me", headers=bob)).json()
    committed["citizens"].append(uuid.UUID(me["id"]))

    responses = await asyncio.gather(
        *(live_client.post(f"{MP}/reports/{case_id}/follow", headers=bob) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    added = [r.json()["added"] for r in responses]
    assert added.count(True) == 1 and added.count(False) == 19, "the others are told they already follow it"

    async with factory() as s:
        rows: Any = (
            await s.scalars(
                select(CaseReporter).where(CaseReporter.case_id == case_id, CaseReporter.reporter_id == me["id"])
            )
        ).all()
    assert len(rows) == 1
    mine = (await live_client.get(f"{MP}/reports", headers=bob)).json()["items"]
    assert [(i["id"], i["following"]) for i in mine] == [(str(case_id), True)]
