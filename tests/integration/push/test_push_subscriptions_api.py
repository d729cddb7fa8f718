"""The mini-program asks the citizen to subscribe, then tells us what they answered."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Citizen, WeChatSubscribeGrant

MP = "/api/mp/v1"


async def test_templates_are_listed_and_answers_recorded_as_grants(
    client: httpx.AsyncClient, db: AsyncSession, redis: Any
) -> None:
    templates = (await client.get(f"{MP}/subscriptions/templates")).json()
    by_event = {t["event"]: t for t in templates}
    assert by_event["case.accepted"] == {
        "event": "case.accepted",
        "label": "反映已受理",
        "template_id": "dev-case.accepted",
    }
    assert set(by_event) == {"case.accepted", "case.dispatched", "case.closed", "case.rejected", "case.rating_invited"}

    login = await client.post(f"{MP}/auth/login", json={"code": "dev-alice"})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    answer = {"dev-case.accepted": "accept", "dev-case.closed": "reject", "not-ours": "accept"}
    recorded = await client.post(f"{MP}/subscriptions", json={"results": answer}, headers=headers)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"remaining": {"dev-case.accepted": 1}}

    openid = await db.scalar(select(Citizen.openid).where(Citizen.id == login.json()["citizen"]["id"]))
    grant = await db.get(WeChatSubscribeGrant, (openid, "dev-case.accepted"))
    assert grant is not None and grant.remaining == 1

    anonymous = await client.post(f"{MP}/subscriptions", json={"results": answer})
    assert anonymous.status_code == 401
    bad = await client.post(f"{MP}/subscriptions", json={"results": {"x": "maybe"}}, headers=headers)
    assert bad.status_code == 400
