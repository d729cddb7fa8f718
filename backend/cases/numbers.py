"""Human case numbers (案卷编号): the day in Asia/Shanghai + a per-day sequence, 202611210001 ….

Two sources, one format:
- Redis (``INCR`` on a per-day key) when the process has one (``use_redis``, done by the runtime): no
  lock is held across the report's transaction, so intake does not queue on a counter row. A key that
  Redis lost (restart without persistence) is re-seeded from the highest number in the database
  before it is used again, and the ``cases.number`` unique index stays the last line of defence.
- the ``case_number_counters`` row otherwise (tests, CLI tools): one atomic upsert, locked until commit.
A report that fails after numbering leaves a gap; numbers are unique, not gapless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Case, CaseNumberCounter
from backend.worktime import SHANGHAI

KEY_TTL_S = 3 * 24 * 3600

_redis: Redis | None = None
_incr: Any = None  # the script below registered on _redis (EVALSHA, loaded again if Redis forgot it)


def use_redis(redis: Redis | None) -> None:
    """Number through this Redis from now on (None: back to the database counter)."""
    global _redis, _incr
    _redis = redis
    _incr = redis.register_script(_INCR_EXISTING) if redis is not None else None


def format_number(day: str, seq: int) -> str:
    return f"{day}{seq:04d}"


async def _db_max(session: AsyncSession, day: str) -> int:
    highest = await session.scalar(select(func.max(Case.number)).where(Case.number.like(f"{day}%")))
    counter = await session.scalar(
        select(CaseNumberCounter.last).where(CaseNumberCounter.day == datetime.strptime(day, "%Y%m%d").date())
    )
    return max(int(highest[len(day) :]) if highest else 0, counter or 0)


# INCR only a key that exists: a missing key (a new day, or Redis lost it) is seeded first, so no caller
# ever counts from 1 past numbers the database already holds.
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('INCR', KEYS[1])
"""


async def _from_redis(redis: Redis, session: AsyncSession, day: str) -> int:
    key = f"case-number:{day}"
    seq = int(await _incr(keys=[key], client=redis))
    if seq == -1:
        # Seed above everything used: the database's highest number of the day (and the counter row).
        # Two callers racing here compute the same floor; SET NX lets one write it, both then INCR.
        await redis.set(key, await _db_max(session, day), nx=True, ex=KEY_TTL_S)
        seq = int(await _incr(keys=[key], client=redis))
    return seq


async def _from_db(session: AsyncSession, day: str) -> int:
    stmt = (
        insert(CaseNumberCounter)
        .values(day=datetime.strptime(day, "%Y%m%d").date(), last=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last": CaseNumberCounter.last + 1})
        .returning(CaseNumberCounter.last)
    )
    return int((await session.execute(stmt)).scalar_one())


async def next_number(session: AsyncSession, now: datetime) -> str:
    day = f"{now.astimezone(SHANGHAI):%Y%m%d}"
    seq = await (_from_redis(_redis, session, day) if _redis is not None else _from_db(session, day))
    return format_number(day, seq)
