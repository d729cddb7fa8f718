"""Subscribe messages (订阅消息): which templates to ask the citizen about, and what they answered —
each "accept" lets ``push`` send one progress message of that template."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.idempotency import IdempotencyKey
from backend.citizens.service import CitizenPrincipal
from miniprogram_api.schemas import SubscribeTemplateOut, SubscriptionsIn, SubscriptionsOut
from push import record_subscriptions, subscribe_template_ids
from push.templates import TEMPLATES


def _template_ids(state: State) -> dict[str, str]:
    settings = state.runtime.settings
    return subscribe_template_ids(settings.push, dev=settings.wechat.provider == "dev")


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ["notifications"]

    @get("/templates", summary="Subscribe-message templates of the progress notifications")
    async def templates(self, state: State) -> list[SubscribeTemplateOut]:
        return [
            SubscribeTemplateOut(event=event, label=TEMPLATES[event].label, template_id=template_id)
            for event, template_id in _template_ids(state).items()
        ]

    @post("", summary="Record what wx.requestSubscribeMessage answered", status_code=200)
    async def record(
        self,
        citizen: CitizenPrincipal,
        db_session: AsyncSession,
        state: State,
        data: SubscriptionsIn,
        idempotency_key: IdempotencyKey = None,
    ) -> SubscriptionsOut:
        known = set(_template_ids(state).values())
        remaining = await record_subscriptions(db_session, citizen.openid, data.results, known_template_ids=known)
        return SubscriptionsOut(remaining=remaining)
