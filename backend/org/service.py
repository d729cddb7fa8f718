"""Staff accounts: authentication with lockout after repeated failures, and device binding (设备绑定):
the field app is used from one phone per staff member."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from backend.models import Department, Staff, StaffDevice, new_id
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


# --- accounts (managed in the admin console) ---------------------------------------------------------

STAFF_ROLES = ("seat", "dispatcher", "shift_lead", "admin", "auditor", "collector", "handler", "officer")
"""Roles a staff account may hold (``citizen``, ``device`` and ``system`` are never people's roles)."""
MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,60}")
_PHONE = re.compile(r"\+?[0-9-]{5,20}")


def check_password_policy(password: str) -> None:
    """At least 8 characters with both letters and digits — staff accounts open the city's case data."""
    if (
        len(password) < MIN_PASSWORD_LENGTH
        or not any(c.isalpha() for c in password)
        or not any(c.isdigit() for c in password)
    ):
        raise ValidationFailed(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters with letters and digits",
            code="weak_password",
            details={"label": f"密码至少{MIN_PASSWORD_LENGTH}位，且须同时包含字母和数字"},
        )


def _check_account(name: str, roles: list[str], phone: str | None) -> None:
    if not name.strip() or len(name) > 60:
        raise ValidationFailed("a name of 1 to 60 characters is required", code="invalid_name")
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if unknown or not roles:
        raise ValidationFailed(
            "roles must be chosen from " + ", ".join(STAFF_ROLES),
            code="invalid_roles",
            details={"unknown": unknown},
        )
    if phone and not _PHONE.fullmatch(phone):
        raise ValidationFailed("the phone number is not valid", code="invalid_phone")


async def create_staff(
    session: AsyncSession,
    *,
    username: str,
    name: str,
    password: str,
    roles: list[str],
    department_id: uuid.UUID | None = None,
    phone: str | None = None,
    grid_codes: list[str] | None = None,
    active: bool = True,
) -> Staff:
    """A new staff account; the password is stored only as its argon2 hash."""
    username = username.strip()
    if not _USERNAME.fullmatch(username):
        raise ValidationFailed("the username is 3 to 60 letters, digits, '.', '_' or '-'", code="invalid_username")
    _check_account(name, roles, phone)
    check_password_policy(password)
    if await session.scalar(select(Staff.id).where(func.lower(Staff.username) == username.lower())) is not None:
        raise Conflict(f"the username {username!r} is taken", code="username_taken")
    staff = Staff(
        id=new_id(),
        username=username,
        name=name.strip(),
        phone=phone or None,
        password_hash=hash_password(password),
        roles=list(dict.fromkeys(roles)),
        department_id=department_id,
        grid_codes=list(grid_codes or []),
        active=active,
    )
    session.add(staff)
    await session.flush()
    return staff


async def update_staff(
    session: AsyncSession,
    staff_id: uuid.UUID,
    *,
    name: str,
    roles: list[str],
    department_id: uuid.UUID | None,
    phone: str | None,
    grid_codes: list[str],
    active: bool,
    password: str | None = None,
) -> Staff:
    """Change an account; a non-empty ``password`` replaces the old one (the username never changes)."""
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None:
        raise NotFound("no such staff member", code="staff_not_found")
    _check_account(name, roles, phone)
    if password:
        check_password_policy(password)
        staff.password_hash = hash_password(password)
    staff.name = name.strip()
    staff.roles = list(dict.fromkeys(roles))
    staff.department_id = department_id
    staff.phone = phone or None
    staff.grid_codes = list(grid_codes)
    staff.active = active
    await session.flush()
    return staff


async def department_names(session: AsyncSession) -> dict[uuid.UUID, str]:
    """Every department's name by id, in code order (for pickers and for showing ids as names)."""
    rows = await session.execute(select(Department.id, Department.name).order_by(Department.code))
    return {i: n for i, n in rows.all()}
