"""Channel providers behind one interface (``ChannelProvider``), chosen by settings:

| channel | setting | real | dev (embedded demo) |
|---|---|---|---|
| wechat | ``WECHAT_PROVIDER`` | ``WeChatApiSubscribe`` (``WECHAT_API_BASE``) | ``DevWeChatSubscribe`` (logs) |
| sms | ``SMS_PROVIDER`` | ``HttpSms`` (``SMS_API_BASE``) | ``DevSms`` (logs, number masked) |
| inbox | — | ``InboxProvider`` (table + live stream) | the same |
| console | — | ``ConsoleProvider`` (table + live stream) | the same |

The delivery job gets them from ``get_providers()``: built once per process from settings; tests
install their own with ``use_providers``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from redis.asyncio import Redis

from backend.settings import PushSettings, Settings, get_settings
from push.enums import Channel
from push.providers.base import (
    ChannelProvider,
    DeliveryError,
    Outcome,
    PermanentError,
    Sent,
    Suppressed,
    TransientError,
)
from push.providers.inbox import ConsoleProvider, InboxProvider
from push.providers.sms import DevSms, HttpSms
from push.providers.wechat import DevWeChatSubscribe, WeChatApiSubscribe

Providers = Mapping[Channel, ChannelProvider]

__all__ = [
    "ChannelProvider",
    "DeliveryError",
    "Outcome",
    "PermanentError",
    "Providers",
    "Sent",
    "Suppressed",
    "TransientError",
    "build_providers",
    "close_providers",
    "get_providers",
    "get_push_settings",
    "use_providers",
]


def build_providers(settings: Settings, redis: Redis | None = None) -> dict[Channel, ChannelProvider]:
    if redis is None and settings.redis.url:
        redis = Redis.from_url(settings.redis.url, socket_connect_timeout=2, socket_timeout=5)
    wechat: ChannelProvider = (
        WeChatApiSubscribe(settings.push, settings.wechat, settings.redis.url)
        if settings.wechat.provider == "wechat"
        else DevWeChatSubscribe(settings.push)
    )
    sms: ChannelProvider = (
        HttpSms(settings.sms, settings.push) if settings.sms.provider == "http" else DevSms(settings.sms)
    )
    return {
        Channel.WECHAT: wechat,
        Channel.SMS: sms,
        Channel.INBOX: InboxProvider(redis),
        Channel.CONSOLE: ConsoleProvider(redis),
    }


_providers: dict[Channel, ChannelProvider] | None = None
_push_settings: PushSettings | None = None


def get_providers() -> Providers:
    """This process's providers, built from settings on first use."""
    global _providers
    if _providers is None:
        _providers = build_providers(get_settings())
    return _providers


def get_push_settings() -> PushSettings:
    """Quiet hours and template ids in force (settings, unless a test installed its own)."""
    return _push_settings or get_settings().push


@contextmanager
def use_providers(providers: Providers, push_settings: PushSettings | None = None) -> Iterator[Providers]:
    """Deliver through ``providers`` (and with ``push_settings``) inside the block — tests: peers,
    failing providers, quiet hours at a fixed time."""
    global _providers, _push_settings
    previous = _providers, _push_settings
    _providers = dict(providers)
    _push_settings = push_settings or _push_settings
    try:
        yield providers
    finally:
        _providers, _push_settings = previous


async def close_providers() -> None:
    global _providers
    providers, _providers = _providers, None
    redis_clients = {
        id(p.redis): p.redis for p in (providers or {}).values() if isinstance(p, InboxProvider) and p.redis
    }
    for provider in (providers or {}).values():
        await provider.aclose()
    for client in redis_clients.values():
        await client.aclose()
