"""Fixtures of the mini-program tests: the WeChat peer and the real provider pointed at it, signed-in
citizens, photo uploads to the S3 server, the media job."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from peers.wechat_mp import MiniProgramPeer

from backend.citizens.wechat import WeChatMiniProgram, use_provider
from backend.settings import Settings

CALLBACK_TOKEN = "callback-token-for-tests"


@pytest.fixture
def mp_peer() -> Iterator[MiniProgramPeer]:
    peer = MiniProgramPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
async def peer_provider(mp_peer: MiniProgramPeer, settings: Settings, redis: Any) -> AsyncIterator[WeChatMiniProgram]:
    """The real provider against the peer, for the whole app while the test runs."""
    provider = WeChatMiniProgram(mp_peer.url, mp_peer.app_id, mp_peer.app_secret, settings.redis.url, timeout=2.0)
    with use_provider(provider):
        yield provider
    await provider.aclose()


@pytest.fixture
def callback_token(runtime: Any) -> Iterator[str]:
    """Switch the WeChat message-push callback on (it is off without a token)."""
    settings = runtime.settings
    runtime.settings = dataclasses.replace(
        settings, citizens=dataclasses.replace(settings.citizens, wechat_callback_token=CALLBACK_TOKEN)
    )
    try:
        yield CALLBACK_TOKEN
    finally:
        runtime.settings = settings


@pytest.fixture
def s3() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http
