"""Staff tokens: short-lived JWT access tokens and rotating refresh tokens (HS256, SECRET_KEY).

A refresh token can be used once: its ``jti`` is burned in Redis when it is exchanged, so a
stolen token that is replayed after the owner refreshed is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from redis.asyncio import Redis

from backend.errors import Unauthorized

ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=14)
ISSUER = "chengguan"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class StaffClaims:
    staff_id: uuid.UUID
    roles: frozenset[str]
    department_id: uuid.UUID | None
    device_id: str | None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _encode(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def issue_pair(secret: str, claims: StaffClaims, *, now: datetime | None = None) -> TokenPair:
    now = now or datetime.now(UTC)
    base = {
        "iss": ISSUER,
        "sub": str(claims.staff_id),
        "roles": sorted(claims.roles),
        "dept": str(claims.department_id) if claims.department_id else None,
        "dev": claims.device_id,
        "iat": int(now.timestamp()),
    }
    access = _encode({**base, "typ": "access", "exp": int((now + ACCESS_TTL).timestamp())}, secret)
    refresh = _encode(
        {**base, "typ": "refresh", "jti": uuid.uuid4().hex, "exp": int((now + REFRESH_TTL).timestamp())},
        secret,
    )
    return TokenPair(access, refresh, int(ACCESS_TTL.total_seconds()))


def decode(secret: str, token: str, *, expected_type: str) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "typ"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token has expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("token is not valid", code="invalid_token") from None
    if payload.get("typ") != expected_type:
        raise Unauthorized(f"expected a {expected_type} token", code="invalid_token")
    return payload


def claims_of(payload: dict[str, Any]) -> StaffClaims:
    try:
        return StaffClaims(
            staff_id=uuid.UUID(payload["sub"]),
            roles=frozenset(payload.get("roles") or ()),
            department_id=uuid.UUID(payload["dept"]) if payload.get("dept") else None,
            device_id=payload.get("dev"),
        )
    except (ValueError, TypeError, KeyError):
        raise Unauthorized("token is not valid", code="invalid_token") from None


async def burn_refresh(redis: Redis, payload: dict[str, Any]) -> None:
    """Mark a refresh token used; raise if it was used before (a replay)."""
    jti = payload.get("jti")
    if not jti:
        raise Unauthorized("token is not valid", code="invalid_token")
    ttl = max(int(payload["exp"] - datetime.now(UTC).timestamp()), 1)
    fresh = await redis.set(f"auth:refresh:used:{jti}", b"1", ex=ttl, nx=True)
    if not fresh:
        raise Unauthorized("refresh token was already used", code="refresh_reused")
