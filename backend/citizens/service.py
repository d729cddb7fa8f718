"""市民服务 — citizens of the mini-program: WeChat login into our own session token, profile, phone binding.

A session token is 32 random bytes (URL-safe base64) handed to the mini-program once; Redis keeps only
its SHA-256 (``mp:session:<hash>`` → citizen id and openid), with the session's lifetime as TTL, so a
leaked Redis dump holds no usable token. The WeChat session_key goes to ``mp:wxsk:<citizen id>`` — on the
server only, never in a response or the database.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.service import Actor
from backend.citizens.wechat import SCENE_PROFILE, MiniProgramProvider
from backend.errors import NotFound, Unauthorized, ValidationFailed
from backend.models import Citizen

SESSION_PREFIX = "mp:session:"
SESSION_KEY_PREFIX = "mp:wxsk:"
NICKNAME_MAX = 32


class RiskyContent(ValidationFailed):
    """A text WeChat's content security (msgSecCheck) marks as risky."""

    code = "risky_content"


@dataclass(frozen=True)
class CitizenPrincipal:
    """The signed-in citizen of a request."""

    citizen_id: uuid.UUID
    openid: str

    @property
    def actor(self) -> Actor:
        return Actor.citizen(str(self.citizen_id))


@dataclass(frozen=True)
class LoginResult:
    citizen: Citizen
    token: str
    expires_in: int
    created: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    session: AsyncSession,
    redis: Redis,
    provider: MiniProgramProvider,
    code: str,
    *,
    ttl_s: int,
    now: datetime | None = None,
) -> LoginResult:
    """wx.login code → jscode2session → the citizen (created on first login) and a new session token."""
    now = now or datetime.now(UTC)
    wx = await provider.code_to_session(code)
    insert_row = insert(Citizen).values(id=uuid.uuid4(), openid=wx.openid, unionid=wx.unionid, last_login_at=now)
    stmt: Any = insert_row.on_conflict_do_update(
        index_elements=["openid"],
        set_={
            "unionid": func.coalesce(insert_row.excluded.unionid, Citizen.unionid),
            "last_login_at": now,
            "updated_at": now,
        },
    ).returning(Citizen.id, literal_column("(xmax = 0)").label("inserted"))
    row = (await session.execute(stmt)).one()
    citizen = await session.get(Citizen, row.id, populate_existing=True)
    assert citizen is not None
    token = secrets.token_urlsafe(32)
    record = json.dumps({"citizen_id": str(citizen.id), "openid": citizen.openid})
    await redis.set(SESSION_PREFIX + _hash(token), record, ex=ttl_s)
    await redis.set(SESSION_KEY_PREFIX + str(citizen.id), wx.session_key, ex=ttl_s)
    return LoginResult(citizen=citizen, token=token, expires_in=ttl_s, created=bool(row.inserted))


async def authenticate(redis: Redis, token: str) -> CitizenPrincipal:
    """The citizen a session token belongs to, or ``Unauthorized``."""
    if not token or len(token) > 128:
        raise Unauthorized("a citizen session token is required", code="unauthorized")
    raw = await redis.get(SESSION_PREFIX + _hash(token))
    if raw is None:
        raise Unauthorized("the session has expired or was ended; log in again", code="session_expired")
    data = json.loads(raw)
    return CitizenPrincipal(citizen_id=uuid.UUID(data["citizen_id"]), openid=data["openid"])


async def logout(redis: Redis, token: str) -> None:
    await redis.delete(SESSION_PREFIX + _hash(token))


async def session_key_of(redis: Redis, citizen_id: uuid.UUID) -> str | None:
    """The WeChat session_key of the citizen's last login (for decrypting wx.getUserInfo-style payloads)."""
    raw = await redis.get(SESSION_KEY_PREFIX + str(citizen_id))
    return raw.decode() if isinstance(raw, bytes) else raw


async def get_citizen(session: AsyncSession, citizen_id: uuid.UUID) -> Citizen:
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("no such citizen", code="citizen_not_found")
    return citizen


async def citizen_by_openid(session: AsyncSession, openid: str) -> Citizen | None:
    return await session.scalar(select(Citizen).where(Citizen.openid == openid))


async def check_text(provider: MiniProgramProvider, principal: CitizenPrincipal, text: str, scene: int) -> None:
    """内容安全 — refuse a text WeChat marks as risky (400 ``risky_content``); empty texts pass."""
    if not text.strip():
        return
    verdict = await provider.check_text(text, openid=principal.openid, scene=scene)
    if verdict.risky:
        raise RiskyContent(
            "the text contains content that cannot be published; please revise it",
            details={"label": verdict.label},
        )


async def update_profile(
    session: AsyncSession,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    *,
    nickname: str | None = None,
    avatar_url: str | None = None,
) -> Citizen:
    citizen = await get_citizen(session, principal.citizen_id)
    if nickname is not None:
        nickname = nickname.strip()
        if len(nickname) > NICKNAME_MAX:
            raise ValidationFailed(f"the nickname is longer than {NICKNAME_MAX} characters", code="too_long")
        await check_text(provider, principal, nickname, SCENE_PROFILE)
        citizen.nickname = nickname
    if avatar_url is not None:
        if avatar_url and not avatar_url.startswith("https://"):
            raise ValidationFailed("the avatar must be an https URL", code="invalid_avatar_url")
        citizen.avatar_url = avatar_url
    await session.flush()
    return citizen


async def bind_phone(
    session: AsyncSession, provider: MiniProgramProvider, principal: CitizenPrincipal, code: str
) -> Citizen:
    """手机号绑定 — the code of a ``getPhoneNumber`` button → the number WeChat verified for this user."""
    citizen = await get_citizen(session, principal.citizen_id)
    info = await provider.phone_number(code)
    citizen.phone = info.pure_phone
    citizen.phone_country_code = info.country_code
    await session.flush()
    return citizen
