"""The WeChat mini-program server API behind one interface (微信小程序服务端接口):

- ``sns/jscode2session`` — the ``wx.login`` code → openid, unionid and the session_key;
- ``wxa/business/getuserphonenumber`` — a ``getPhoneNumber`` button's code → the phone number;
- ``wxa/msg_sec_check`` (v2) — is a text risky (内容安全), answered at once;
- ``wxa/media_check_async`` (v2) — is an image risky, answered later by a message push to our callback.

``WeChatMiniProgram`` talks to ``WECHAT_API_BASE`` through wechatpy's client; the access token is cached
in Redis under wechatpy's own key (``wechatpy:<appid>_access_token``) — the key the push service's
client uses too — so the processes share one token instead of invalidating each other's. A token
WeChat refuses (40001/40014/42001) is fetched anew and the call retried once.

``DevMiniProgram`` (``WECHAT_PROVIDER=dev``) needs no WeChat: the code ``dev-alice`` logs in as the demo
citizen alice, ``dev-phone-13800000001`` binds that number, a few words make a text risky, and images pass
at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import requests
from redis import Redis as SyncRedis
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from backend.errors import DomainError, Forbidden, RateLimited, ValidationFailed
from backend.settings import Settings, get_settings

log = logging.getLogger("chengguan.citizens.wechat")

INVALID_TOKEN: Final = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access token
INVALID_CODE: Final = frozenset({40029, 40163})  # invalid code / code already used
RATE_LIMITED: Final = frozenset({45009, 45011})  # daily quota reached / too frequent
HIGH_RISK_USER: Final = 40226
RISKY_TEXT: Final = 87014  # msg_sec_check v1 answers a risky text with this errcode

# Content-security scenes (场景值) of the v2 checks.
SCENE_PROFILE: Final = 1  # 资料
SCENE_COMMENT: Final = 2  # 评论
SCENE_FORUM: Final = 3  # 论坛
MEDIA_TYPE_IMAGE: Final = 2


class WeChatUnavailable(DomainError):
    """WeChat did not answer, answered with an error we cannot act on, or kept refusing our token."""

    code = "wechat_unavailable"
    status_hint = 503


class InvalidWeChatCode(ValidationFailed):
    """The ``wx.login`` / ``getPhoneNumber`` code is wrong, expired or already used: get a new one."""

    code = "invalid_wechat_code"


class WeChatRateLimited(RateLimited):
    code = "wechat_rate_limited"


@dataclass(frozen=True)
class WxSession:
    """What jscode2session answers. ``session_key`` is a secret: it stays on the server."""

    openid: str
    unionid: str | None
    session_key: str


@dataclass(frozen=True)
class PhoneInfo:
    phone: str  # with the country code as the user typed it, e.g. 13800000001 or +85261234567
    pure_phone: str
    country_code: str


@dataclass(frozen=True)
class Verdict:
    """A content-security verdict: ``suggest`` is pass | review | risky; ``label`` WeChat's category
    (100 normal, 20001 politics, 20002 porn, 20006 crime, …)."""

    suggest: str
    label: int
    trace_id: str | None = None

    @property
    def risky(self) -> bool:
        return self.suggest == "risky"


class MiniProgramProvider(ABC):
    """The mini-program server API. Every method raises ``InvalidWeChatCode``, ``WeChatRateLimited``,
    ``Forbidden`` (a user WeChat marks as high risk) or ``WeChatUnavailable``; nothing else."""

    name: str

    @abstractmethod
    async def code_to_session(self, code: str) -> WxSession: ...

    @abstractmethod
    async def phone_number(self, code: str) -> PhoneInfo: ...

    @abstractmethod
    async def check_text(self, content: str, *, openid: str, scene: int) -> Verdict: ...

    @abstractmethod
    async def check_media(self, url: str, *, openid: str, scene: int) -> str | None:
        """Submit an image URL for the asynchronous check; the trace_id its result will carry, or None
        when the image is decided at once (passed)."""

    async def aclose(self) -> None:
        return None


def verify_push_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """WeChat message push (消息推送) signs a callback with sha1 of the sorted token, timestamp and nonce."""
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return hmac.compare_digest(expected, signature)


def _raise_for(code: int | None, message: Any, *, login: bool = False) -> NoReturn:
    """Turn a WeChat errcode into our errors (never returns)."""
    if code in INVALID_CODE:
        raise InvalidWeChatCode(
            "the WeChat code is invalid or already used; call wx.login (or getPhoneNumber) again",
            details={"errcode": code},
        )
    if code in RATE_LIMITED:
        raise WeChatRateLimited("WeChat is limiting our calls; try again in a minute", details={"errcode": code})
    if code == HIGH_RISK_USER and login:
        raise Forbidden("WeChat refuses to log this user in (high-risk account)", code="wechat_user_blocked")
    raise WeChatUnavailable("WeChat could not complete the request; try again later", details={"errcode": code})


# --- the real provider -----------------------------------------------------------------------------


class MiniProgramClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client pointed at ``api_base`` for every call (its access-token fetch and its wxa API
    are otherwise hard-wired to api.weixin.qq.com), never retrying by itself (its built-in retry on a
    refused token recurses without limit; we retry once)."""

    def __init__(self, api_base: str, app_id: str, secret: str, storage: SessionStorage, timeout: float) -> None:
        super().__init__(app_id, secret, session=storage, timeout=timeout, auto_retry=False)
        self.api_base = api_base.rstrip("/")
        self.API_BASE_URL = f"{self.api_base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{self.api_base}/"

    def fetch_access_token(self) -> dict[str, Any]:
        response = self._http.get(
            f"{self.api_base}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self)
        expires_in = int(result.get("expires_in", 7200))
        # Kept five minutes less than WeChat keeps it; the storage's TTL decides for every process.
        self.session.set(self.access_token_key, result["access_token"], max(expires_in - 300, 60))
        self.expires_at = None
        return result

    def forget_token(self) -> None:
        self.session.delete(self.access_token_key)

    def code_to_session(self, js_code: str) -> dict[str, Any]:
        # jscode2session authenticates with appid + secret: wechatpy's wxa.code_to_session would fetch an
        # access token first for nothing (requests leaves a None parameter out of the query).
        result: dict[str, Any] = self.get(
            f"{self.api_base}/sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self.secret,
                "js_code": js_code,
                "grant_type": "authorization_code",
                "access_token": None,
            },
        )
        return result


class WeChatMiniProgram(MiniProgramProvider):
    """The real API at ``WECHAT_API_BASE`` (https://api.weixin.qq.com in production)."""

    name = "wechat"

    def __init__(
        self, api_base: str, app_id: str, app_secret: str, redis_url: str | None, *, timeout: float = 5.0
    ) -> None:
        self._redis = SyncRedis.from_url(redis_url, socket_timeout=5) if redis_url else None
        storage: SessionStorage = RedisStorage(self._redis, prefix="wechatpy") if self._redis else MemoryStorage()
        self.client = MiniProgramClient(api_base, app_id, app_secret, storage, timeout)

    async def _call(self, fn: Any, *args: Any, login: bool = False) -> dict[str, Any]:
        # wechatpy is synchronous (requests): keep it off the event loop.
        return await asyncio.to_thread(self._call_sync, fn, args, login)

    def _call_sync(self, fn: Any, args: tuple[Any, ...], login: bool) -> dict[str, Any]:
        for attempt in (1, 2):
            try:
                result: dict[str, Any] = fn(*args)
                return result
            except WeChatClientException as exc:
                code = exc.errcode
                if code in INVALID_TOKEN and attempt == 1:
                    log.info("wechat access token refused (%s); fetching a new one and retrying once", code)
                    self.client.forget_token()
                    continue
                log.warning("wechat %s failed: errcode %s %s", getattr(fn, "__name__", fn), code, exc.errmsg)
                _raise_for(code, exc.errmsg, login=login)
            except (requests.RequestException, ValueError) as exc:
                raise WeChatUnavailable(f"WeChat is unreachable: {type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.client.post(f"{self.client.api_base}/{path}", data=body)
        return result

    async def code_to_session(self, code: str) -> WxSession:
        result = await self._call(self.client.code_to_session, code, login=True)
        openid, session_key = result.get("openid"), result.get("session_key")
        if not openid or not session_key:
            raise WeChatUnavailable("WeChat answered jscode2session without an openid")
        return WxSession(openid=str(openid), unionid=result.get("unionid") or None, session_key=str(session_key))

    async def phone_number(self, code: str) -> PhoneInfo:
        result = await self._call(self._post, "wxa/business/getuserphonenumber", {"code": code})
        info = result.get("phone_info") or {}
        if not info.get("phoneNumber"):
            raise WeChatUnavailable("WeChat answered getuserphonenumber without a phone number")
        return PhoneInfo(
            phone=str(info["phoneNumber"]),
            pure_phone=str(info.get("purePhoneNumber") or info["phoneNumber"]),
            country_code=str(info.get("countryCode") or "86"),
        )

    async def check_text(self, content: str, *, openid: str, scene: int) -> Verdict:
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        try:
            result = await self._call(self._post, "wxa/msg_sec_check", body)
        except WeChatUnavailable as exc:
            if isinstance(exc.details, dict) and exc.details.get("errcode") == RISKY_TEXT:
                return Verdict(suggest="risky", label=0)
            raise
        verdict = result.get("result") or {}
        return Verdict(
            suggest=str(verdict.get("suggest") or "pass"),
            label=int(verdict.get("label") or 100),
            trace_id=result.get("trace_id"),
        )

    async def check_media(self, url: str, *, openid: str, scene: int) -> str | None:
        body = {"media_url": url, "media_type": MEDIA_TYPE_IMAGE, "version": 2, "scene": scene, "openid": openid}
        result = await self._call(self._post, "wxa/media_check_async", body)
        trace_id = result.get("trace_id")
        if not trace_id:
            raise WeChatUnavailable("WeChat answered media_check_async without a trace_id")
        return str(trace_id)

    async def aclose(self) -> None:
        self.client._http.close()
        if self._redis is not None:
            self._redis.close()


# --- the dev provider ------------------------------------------------------------------------------

DEV_CODE = re.compile(r"^dev-([a-z0-9_]{1,32})$")
DEV_PHONE_CODE = re.compile(r"^dev-phone-(1[3-9][0-9]{9})$")
# A text containing any of these is "risky" in dev, so the refusal can be seen without WeChat.
DEV_RISKY_WORDS: Final = ("赌博", "代开发票", "枪支", "risky-text")


def dev_openid(name: str) -> str:
    return f"dev-openid-{name}"


class DevMiniProgram(MiniProgramProvider):
    name = "dev"

    async def code_to_session(self, code: str) -> WxSession:
        match = DEV_CODE.match(code)
        if match is None:
            _raise_for(40029, "invalid code (dev codes look like dev-alice)", login=True)
        return WxSession(openid=dev_openid(match.group(1)), unionid=None, session_key=secrets.token_hex(16))

    async def phone_number(self, code: str) -> PhoneInfo:
        match = DEV_PHONE_CODE.match(code)
        if match is None:
            _raise_for(40029, "invalid code (dev phone codes look like dev-phone-13800000001)")
        return PhoneInfo(phone=match.group(1), pure_phone=match.group(1), country_code="86")

    async def check_text(self, content: str, *, openid: str, scene: int) -> Verdict:
        risky = any(word in content for word in DEV_RISKY_WORDS)
        return Verdict(suggest="risky" if risky else "pass", label=20006 if risky else 100)

    async def check_media(self, url: str, *, openid: str, scene: int) -> str | None:
        return None


def build_provider(settings: Settings) -> MiniProgramProvider:
    wechat = settings.wechat
    if wechat.provider == "wechat":
        if not (wechat.app_id and wechat.app_secret):
            raise ValueError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed for WECHAT_PROVIDER=wechat")
        return WeChatMiniProgram(wechat.api_base, wechat.app_id, wechat.app_secret, settings.redis.url)
    return DevMiniProgram()


_provider: MiniProgramProvider | None = None


def get_provider() -> MiniProgramProvider:
    """The process's provider, built from the settings on first use (API handlers and jobs alike)."""
    global _provider
    if _provider is None:
        _provider = build_provider(get_settings())
    return _provider


@contextmanager
def use_provider(provider: MiniProgramProvider) -> Iterator[MiniProgramProvider]:
    """Talk to WeChat through ``provider`` inside the block (tests: the real provider against a peer)."""
    global _provider
    previous, _provider = _provider, provider
    try:
        yield provider
    finally:
        _provider = previous
