"""Fixtures of the notification tests: the WeChat and SMS peers, and providers pointed at them (or the
dev ones)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from peers.sms import SmsPeer
from peers.wechat import WeChatPeer
from push_support import PROGRESS_TEMPLATE, SMS_TEMPLATES
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import push.jobs  # noqa: F401 — registers the push.* outbox handlers
from backend.models import Staff
from backend.settings import Settings
from push.enums import Channel
from push.providers import build_providers, use_providers
from push.templates import TEMPLATES


@pytest.fixture
def wechat_peer() -> Iterator[WeChatPeer]:
    peer = WeChatPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def sms_peer() -> Iterator[SmsPeer]:
    peer = SmsPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def dev_settings(settings: Settings) -> Settings:
    """The embedded default (dev providers), without quiet hours so a test's outcome does not depend
    on the hour it runs at."""
    return dataclasses.replace(settings, push=dataclasses.replace(settings.push, quiet_hours=None))


@pytest.fixture
def peer_settings(settings: Settings, wechat_peer: WeChatPeer, sms_peer: SmsPeer) -> Settings:
    citizen_events = [e for e, t in TEMPLATES.items() if t.wechat_fields]
    return dataclasses.replace(
        settings,
        wechat=dataclasses.replace(
            settings.wechat,
            provider="wechat",
            app_id=wechat_peer.app_id,
            app_secret=wechat_peer.app_secret,
            api_base=wechat_peer.url,
        ),
        sms=dataclasses.replace(
            settings.sms,
            provider="http",
            api_base=sms_peer.url,
            access_key=sms_peer.access_key,
            secret=sms_peer.secret,
            sign_name=sms_peer.sign_name,
            templates=SMS_TEMPLATES,
        ),
        push=dataclasses.replace(
            settings.push,
            quiet_hours=None,
            wechat_templates=dict.fromkeys(citizen_events, PROGRESS_TEMPLATE),
            http_timeout_s=0.5,
        ),
    )


@pytest.fixture
async def dev_providers(dev_settings: Settings, runtime: Any, redis: Any) -> AsyncIterator[Any]:
    providers = build_providers(dev_settings, runtime.redis)
    with use_providers(providers, dev_settings.push):
        yield providers


@pytest.fixture
async def peer_providers(peer_settings: Settings, runtime: Any, redis: Any) -> AsyncIterator[Any]:
    providers = build_providers(peer_settings, runtime.redis)
    with use_providers(providers, peer_settings.push):
        yield providers
    for channel in (Channel.WECHAT, Channel.SMS):
        await providers[channel].aclose()


@pytest.fixture
async def staff_ids(db: AsyncSession) -> dict[str, uuid.UUID]:
    rows = await db.execute(select(Staff.username, Staff.id))
    return {username: staff_id for username, staff_id in rows}
