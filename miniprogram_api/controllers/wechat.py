"""The endpoint WeChat's message push calls (mediaCheckAsync results). Not for clients: left out of
the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens import callbacks

Signed = Annotated[str, Parameter(max_length=128)]


class WeChatCallbackController(Controller):
    path = "/wechat/callback"
    include_in_schema = False

    @get("", media_type=MediaType.TEXT)
    async def verify_url(
        self, state: State, signature: Signed, timestamp: Signed, nonce: Signed, echostr: Signed
    ) -> str:
        """WeChat checks the URL once when it is configured: echo ``echostr`` for a valid signature."""
        callbacks.verify(state.runtime.settings.citizens.wechat_callback_token, signature, timestamp, nonce)
        return echostr

    @post("", media_type=MediaType.TEXT, status_code=200)
    async def receive(
        self,
        request: Request,
        db_session: AsyncSession,
        state: State,
        signature: Signed,
        timestamp: Signed,
        nonce: Signed,
    ) -> str:
        callbacks.verify(state.runtime.settings.citizens.wechat_callback_token, signature, timestamp, nonce)
        await callbacks.handle(db_session, await request.body())
        return "success"
