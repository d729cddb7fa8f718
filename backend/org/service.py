"""Staff accounts: authentication with lockout after repeated failures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Unauthorized
from backend.models import Staff
from backend.org.passwords import hash_password, needs_rehash, verify_password
from backend.org.tokens import StaffClaims, TokenPair, burn_refresh, claims_of, decode, issue_pair

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def _failures_key(username: str) -> str:
    return f"auth:staff:failures:{username.lower()}"


async def authenticate(session: AsyncSession, redis: Redis, username: str, password: str) -> Staff:
    """Return the active staff member with these credentials, or raise ``Unauthorized``.

    Five failures in a row lock the username for 15 minutes. The counter lives in Redis, not in
    the staff row: the request that fails rolls its transaction back, and the count must survive
    that. The lock is checked before the password, so a locked account cannot be probed."""
    key = _failures_key(username)
    failures = int(await redis.get(key) or 0)
    if failures >= MAX_FAILED_LOGINS:
        ttl = await redis.ttl(key)
        raise Unauthorized(
            "account is locked after repeated failed logins",
            code="account_locked",
            details={"retry_after_s": max(int(ttl), 1)},
        )
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    if staff is None or not staff.active or not verify_password(staff.password_hash if staff else None, password):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, int(LOCKOUT.total_seconds()))
            await pipe.execute()
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    await redis.delete(key)
    staff.last_login_at = datetime.now(UTC)
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    await session.flush()
    return staff


async def login(
    session: AsyncSession,
    redis: Redis,
    secret: str,
    username: str,
    password: str,
    *,
    device_id: str | None = None,
) -> tuple[Staff, TokenPair]:
    staff = await authenticate(session, redis, username, password)
    pair = issue_pair(secret, StaffClaims(staff.id, frozenset(staff.roles), staff.department_id, device_id))
    return staff, pair


async def refresh(session: AsyncSession, redis: Redis, secret: str, refresh_token: str) -> tuple[Staff, TokenPair]:
    payload = decode(secret, refresh_token, expected_type="refresh")
    claims = claims_of(payload)
    staff = await session.get(Staff, claims.staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("token is not valid", code="invalid_token")
    await burn_refresh(redis, payload)
    pair = issue_pair(secret, StaffClaims(staff.id, frozenset(staff.roles), staff.department_id, claims.device_id))
    return staff, pair


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("token is not valid", code="invalid_token")
    return staff
