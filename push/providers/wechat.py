"""WeChat mini-program subscribe messages (订阅消息) to citizens.

A message may only be sent while the citizen holds a grant for its template: each "accept" in the
mini-program's ``wx.requestSubscribeMessage`` allows one message, recorded in
``wechat_subscribe_grants`` by ``push.service.record_subscriptions``. Without one the notification is
*suppressed* — never retried, since no retry can create a grant. A send consumes one grant; WeChat's
43101 ("user refused") means the grant is gone, so it is zeroed.

``WeChatApiSubscribe`` talks to ``WECHAT_API_BASE`` through wechatpy's client (access-token cache in
Redis, shared by every process, so they do not keep invalidating each other's tokens);
``DevWeChatSubscribe`` only logs, for the embedded demo.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import abstractmethod
from datetime import datetime
from typing import Any

import requests
from redis import Redis as SyncRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from backend.citizens.wechat import MiniProgramClient  # the one client of the mini-program's server API
from backend.models import Notification, WeChatSubscribeGrant
from backend.settings import PushSettings, WeChatSettings
from push.enums import Channel
from push.providers.base import ChannelProvider, Outcome, PermanentError, Sent, Suppressed, TransientError
from push.rules import mask_openid, push_logger
from push.templates import get_template, wechat_data, wechat_page

log = push_logger("chengguan.push.wechat")

# errcodes of cgi-bin/token and message/subscribe/send
INVALID_TOKEN = {40001, 40014, 42001}  # invalid / malformed / expired access_token: fetch anew, retry once
USER_REFUSED = 43101
RATE_LIMITED = {45009: 3600.0, 45011: 60.0}  # daily quota reached / too frequent → seconds to wait
PERMANENT = {
    40003: "invalid openid",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41030: "invalid page",
    47003: "template data invalid",
}


class SubscriptionRefused(Exception):
    """43101: the citizen has no (or withdrew the) subscription for this template."""


def dev_template_id(event: str) -> str:
    return f"dev-{event}"


class WeChatSubscribe(ChannelProvider):
    """Grant bookkeeping shared by the real and the dev provider; subclasses only transmit."""

    channel = Channel.WECHAT

    def __init__(self, push: PushSettings) -> None:
        self.state = push.wechat_state
        self.template_ids = dict(push.wechat_templates)

    def template_id(self, event: str) -> str | None:
        return self.template_ids.get(event)

    async def send(self, session: AsyncSession, notification: Notification, now: datetime) -> Outcome:
        template = get_template(notification.event)
        template_id = self.template_id(notification.event)
        if template_id is None:
            return Suppressed("no_wechat_template_configured")
        openid = notification.address
        # The lock serializes two deliveries racing for the last grant of one citizen and template.
        grant = await session.scalar(
            select(WeChatSubscribeGrant)
            .where(WeChatSubscribeGrant.openid == openid, WeChatSubscribeGrant.template_id == template_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if grant is None or (grant.remaining <= 0 and not grant.long_term):
            log.info("wechat %s to %s suppressed: no subscription grant", notification.event, mask_openid(openid))
            return Suppressed("no_subscription", template_id)
        payload = {
            "touser": openid,
            "template_id": template_id,
            "data": wechat_data(template, notification.data, now),
            "miniprogram_state": self.state,
            "lang": "zh_CN",
        }
        page = wechat_page(template, notification.data)
        if page:
            payload["page"] = page
        try:
            msgid = await self.transmit(payload)
        except SubscriptionRefused:
            grant.remaining = 0
            grant.long_term = False
            grant.refused_at = now
            log.info("wechat %s to %s: user refused (43101), grant cleared", notification.event, mask_openid(openid))
            return Suppressed("user_refused", template_id)
        if not grant.long_term:
            grant.remaining -= 1
        grant.last_used_at = now
        return Sent(msgid, template_id)

    @abstractmethod
    async def transmit(self, payload: dict[str, Any]) -> str:
        """Send one ``subscribeMessage.send`` body; return the msgid."""


class DevWeChatSubscribe(WeChatSubscribe):
    """Logs instead of sending; every event has a template id ``dev-<event>`` unless configured."""

    def template_id(self, event: str) -> str | None:
        return self.template_ids.get(event) or dev_template_id(event)

    async def transmit(self, payload: dict[str, Any]) -> str:
        log.info(
            "dev wechat subscribe message %s to %s: %s",
            payload["template_id"],
            mask_openid(payload["touser"]),
            {k: v["value"] for k, v in payload["data"].items()},
        )
        return f"dev-{uuid.uuid4().hex[:16]}"


class WeChatApiSubscribe(WeChatSubscribe):
    """The real ``cgi-bin/message/subscribe/send`` of ``WECHAT_API_BASE``."""

    def __init__(self, push: PushSettings, wechat: WeChatSettings, redis_url: str | None) -> None:
        super().__init__(push)
        if not (wechat.app_id and wechat.app_secret):
            raise ValueError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed for subscribe messages")
        self._redis = SyncRedis.from_url(redis_url, socket_timeout=5) if redis_url else None
        storage: SessionStorage = RedisStorage(self._redis, prefix="wechatpy") if self._redis else MemoryStorage()
        self.client = MiniProgramClient(wechat.api_base, wechat.app_id, wechat.app_secret, storage, push.http_timeout_s)

    async def transmit(self, payload: dict[str, Any]) -> str:
        # wechatpy is synchronous (requests): keep it off the event loop.
        return await asyncio.to_thread(self._transmit, payload)

    def _transmit(self, payload: dict[str, Any]) -> str:
        url = f"{self.client.api_base}/cgi-bin/message/subscribe/send"
        for attempt in (1, 2):
            try:
                result = self.client.post(url, data=payload)
                return str(result.get("msgid", ""))
            except WeChatClientException as exc:
                code = exc.errcode
                if code in INVALID_TOKEN and attempt == 1:
                    log.info("wechat access token refused (%s); fetching a new one and retrying once", code)
                    self.client.forget_token()
                    continue
                raise _classify(code, exc.errmsg) from None
            except requests.RequestException as exc:
                raise TransientError(f"wechat unreachable: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        self.client._http.close()
        if self._redis is not None:
            self._redis.close()


def _classify(code: int | None, message: Any) -> Exception:
    if code == USER_REFUSED:
        return SubscriptionRefused()
    if code in RATE_LIMITED:
        return TransientError(f"wechat errcode {code}: {message}", retry_after=RATE_LIMITED[code])
    if code in PERMANENT:
        return PermanentError(f"wechat errcode {code} ({PERMANENT[code]}): {message}")
    if code is None:
        return TransientError(f"wechat answered with an HTTP error: {message}")
    return TransientError(f"wechat errcode {code}: {message}")
