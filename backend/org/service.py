"""Staff accounts: authentication with lockout after repeated failures, and device binding (设备绑定):
the field app is used from one phone per staff member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Forbidden, NotFound, Unauthorized
from backend.models import Staff, StaffDevice
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
    await bind_device(session, staff.id, device_id)
    pair = issue_pair(secret, StaffClaims(staff.id, frozenset(staff.roles), staff.department_id, device_id))
    return staff, pair


async def refresh(session: AsyncSession, redis: Redis, secret: str, refresh_token: str) -> tuple[Staff, TokenPair]:
    payload = decode(secret, refresh_token, expected_type="refresh")
    claims = claims_of(payload)
    staff = await session.get(Staff, claims.staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("token is not valid", code="invalid_token")
    await check_device(session, staff.id, claims.device_id)
    await burn_refresh(redis, payload)
    pair = issue_pair(secret, StaffClaims(staff.id, frozenset(staff.roles), staff.department_id, claims.device_id))
    return staff, pair


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("token is not valid", code="invalid_token")
    return staff


def _device_refused(bound: bool) -> Forbidden:
    return Forbidden(
        "this account is bound to another device; an administrator must unbind it first"
        if bound
        else "this device is no longer bound to the account; sign in again",
        code="device_not_bound",
    )


async def bind_device(session: AsyncSession, staff_id: uuid.UUID, device_id: str | None) -> None:
    """绑定设备 — the first sign-in with a device id binds it; a sign-in from any other device (or with
    no device id once one is bound) is refused with 403 ``device_not_bound``.

    Called after the password check, so a refusal tells nothing to someone without the password.
    Two first sign-ins from two devices at once: the insert is one atomic upsert, so exactly one binds."""
    now = datetime.now(UTC)
    binding = await session.get(StaffDevice, staff_id, with_for_update=True, populate_existing=True)
    if binding is None:
        if device_id is None:
            return
        bound = await session.scalar(
            insert(StaffDevice)
            .values(staff_id=staff_id, device_id=device_id, bound_at=now, last_login_at=now)
            .on_conflict_do_update(
                index_elements=[StaffDevice.staff_id],
                set_={"last_login_at": now},
                where=StaffDevice.device_id == device_id,
            )
            .returning(StaffDevice.device_id)
        )
        if bound is None:  # someone bound another device in between
            raise _device_refused(True)
        return
    if device_id is None or binding.device_id != device_id:
        raise _device_refused(True)
    binding.last_login_at = now
    await session.flush()


async def check_device(session: AsyncSession, staff_id: uuid.UUID, device_id: str | None) -> None:
    """A token is good only from the device bound now: after an administrator unbinds (or another device
    is bound), the old device's tokens are refused at their next use."""
    bound = await session.scalar(select(StaffDevice.device_id).where(StaffDevice.staff_id == staff_id))
    if bound != device_id:
        raise _device_refused(device_id is None)


async def unbind_device(session: AsyncSession, username: str) -> str | None:
    """解绑设备 — forget a staff member's device (a lost or replaced phone); their next sign-in binds the
    device it comes from. Returns the device id that was bound, or None."""
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise NotFound(f"no staff member {username!r}", code="staff_not_found")
    device_id = await session.scalar(
        delete(StaffDevice).where(StaffDevice.staff_id == staff.id).returning(StaffDevice.device_id)
    )
    await session.flush()
    return device_id
