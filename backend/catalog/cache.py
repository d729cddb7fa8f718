"""Categories held in memory for intake, the hottest path that needs them.

A snapshot per category (no ORM object shared across sessions), reloaded when the table changes — a
cheap fingerprint (count, latest ``updated_at``) checked at most every ``check_every`` seconds, so an
administrator's edit applies within that time. ``invalidate()`` forces a reload.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.rules import MinorClass
from backend.catalog.service import minor_of
from backend.errors import ValidationFailed
from backend.models import Category


@dataclass(frozen=True)
class CategoryInfo:
    code: str
    kind: str
    major_code: str
    name: str
    citizen_selectable: bool
    default_urgency: str
    similar_radius_m: int
    similar_window_h: int
    divert_to: str | None
    time_limits: dict[str, Any]
    active: bool
    minor: MinorClass


def _snapshot(c: Category) -> CategoryInfo:
    return CategoryInfo(
        code=c.code,
        kind=c.kind,
        major_code=c.major_code,
        name=c.name,
        citizen_selectable=c.citizen_selectable,
        default_urgency=c.default_urgency,
        similar_radius_m=c.similar_radius_m,
        similar_window_h=c.similar_window_h,
        divert_to=c.divert_to,
        time_limits=dict(c.time_limits),
        active=c.active,
        minor=minor_of(c),
    )


class CategoryCache:
    def __init__(self, check_every: float = 5.0) -> None:
        self.check_every = check_every
        self._by_code: dict[str, CategoryInfo] = {}
        self._fingerprint: tuple[int, object] | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._checked_at = 0.0
        self._fingerprint = None

    async def _refresh(self, session: AsyncSession) -> None:
        async with self._lock:
            if time.monotonic() - self._checked_at < self.check_every and self._fingerprint is not None:
                return
            row = (await session.execute(select(func.count(), func.max(Category.updated_at)))).one()
            fingerprint = (int(row[0]), row[1])
            if fingerprint != self._fingerprint:
                rows = (await session.scalars(select(Category))).all()
                self._by_code = {c.code: _snapshot(c) for c in rows}
                self._fingerprint = fingerprint
            self._checked_at = time.monotonic()

    async def get(self, session: AsyncSession, code: str) -> CategoryInfo:
        if self._fingerprint is None or time.monotonic() - self._checked_at >= self.check_every:
            await self._refresh(session)
        info = self._by_code.get(code)
        if info is None or not info.active:
            raise ValidationFailed(f"unknown category {code!r}", code="unknown_category", details={"code": code})
        return info


CATEGORIES = CategoryCache()
