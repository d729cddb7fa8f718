"""WeChat login (wx.login code → our own session token), logout, the citizen's profile and phone."""

from __future__ import annotations

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.idempotency import IdempotencyKey
from backend.citizens import service
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.models import Citizen
from miniprogram_api.controllers._common import SIGNED_IN, WECHAT_DOWN, local
from miniprogram_api.guards import bearer_token
from miniprogram_api.schemas import CitizenOut, LoginIn, LoginOut, PhoneIn, ProfileIn


def citizen_out(citizen: Citizen) -> CitizenOut:
    return CitizenOut(
        id=str(citizen.id),
        nickname=citizen.nickname,
        avatar_url=citizen.avatar_url,
        phone=citizen.phone,
        created_at=local(citizen.created_at),
    )


class CitizenAuthController(Controller):
    path = "/auth"
    tags = ["citizen"]

    @post(
        "/login",
        summary="Log in with the code of wx.login()",
        description=(
            "Exchanges the code through WeChat's jscode2session and answers our own opaque session token "
            "(send it as `Authorization: Bearer <token>`); WeChat's session_key never leaves the server. "
            "With `WECHAT_PROVIDER=dev`, the code `dev-alice` logs in as the demo citizen alice."
        ),
        status_code=200,
        responses=WECHAT_DOWN,
    )
    async def login(
        self,
        data: LoginIn,
        db_session: AsyncSession,
        state: State,
        wechat: MiniProgramProvider,
        idempotency_key: IdempotencyKey = None,
    ) -> LoginOut:
        runtime = state.runtime
        result = await service.login(
            db_session, runtime.redis, wechat, data.code, ttl_s=runtime.settings.citizens.session_ttl_s
        )
        return LoginOut(
            token=result.token,
            token_type="Bearer",
            expires_in=result.expires_in,
            first_login=result.created,
            citizen=citizen_out(result.citizen),
        )

    @post("/logout", summary="End this session", status_code=204, responses=SIGNED_IN)
    async def logout(
        self, request: Request, citizen: CitizenPrincipal, state: State, idempotency_key: IdempotencyKey = None
    ) -> None:
        await service.logout(state.runtime.redis, bearer_token(request))


class MeController(Controller):
    path = "/me"
    tags = ["citizen"]

    @get("", summary="My profile", responses=SIGNED_IN)
    async def me(self, citizen: CitizenPrincipal, db_session: AsyncSession) -> CitizenOut:
        return citizen_out(await service.get_citizen(db_session, citizen.citizen_id))

    @patch(
        "",
        summary="Change my nickname or avatar",
        description="The nickname passes WeChat's text check (msgSecCheck); a risky one is 400 risky_content.",
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def update(
        self, citizen: CitizenPrincipal, data: ProfileIn, db_session: AsyncSession, wechat: MiniProgramProvider
    ) -> CitizenOut:
        updated = await service.update_profile(
            db_session, wechat, citizen, nickname=data.nickname, avatar_url=data.avatar_url
        )
        return citizen_out(updated)

    @post(
        "/phone",
        summary="Bind my phone number from a getPhoneNumber button's code",
        status_code=200,
        responses={**SIGNED_IN, **WECHAT_DOWN},
    )
    async def bind_phone(
        self,
        citizen: CitizenPrincipal,
        data: PhoneIn,
        db_session: AsyncSession,
        wechat: MiniProgramProvider,
        idempotency_key: IdempotencyKey = None,
    ) -> CitizenOut:
        return citizen_out(await service.bind_phone(db_session, wechat, citizen, data.code))
