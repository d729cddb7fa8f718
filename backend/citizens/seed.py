"""Demo citizens: with ``WECHAT_PROVIDER=dev`` the code ``dev-alice`` logs in as alice (``dev-bob`` as bob)."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens.wechat import dev_openid
from backend.models import Citizen

# (dev login name, nickname, phone)
DEMO_CITIZENS: list[tuple[str, str, str | None]] = [
    ("alice", "市民艾丽", "13800000001"),
    ("bob", "市民鲍勃", None),
]


async def seed_demo_citizens(session: AsyncSession) -> int:
    rows = [
        {"id": uuid.uuid4(), "openid": dev_openid(name), "nickname": nickname, "phone": phone,
         "phone_country_code": "86" if phone else None}
        for name, nickname, phone in DEMO_CITIZENS
    ]  # fmt: skip
    await session.execute(insert(Citizen).values(rows).on_conflict_do_nothing(index_elements=["openid"]))
    return len(rows)
