"""The mini-program endpoints of the WeChat API peer, added to the shared ``WeChatPeer`` (``cgi-bin/token``
and subscribe messages come from it unchanged):

- ``GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code`` →
  ``{"openid", "session_key", "unionid"?}``; 40029 for a code it did not issue, 40163 for a code used
  before, 40013/40125 for a wrong appid/secret;
- ``POST /wxa/business/getuserphonenumber?access_token=`` ``{"code"}`` → ``{"errcode": 0, "phone_info":
  {"phoneNumber", "purePhoneNumber", "countryCode", "watermark"}}``; 40029 for an unknown code;
- ``POST /wxa/msg_sec_check?access_token=`` (v2: ``content, version, scene, openid``) → ``{"errcode": 0,
  "result": {"suggest", "label"}, "detail", "trace_id"}``, risky when the text holds one of ``risky_words``;
  40003 for an openid that never logged in;
- ``POST /wxa/media_check_async?access_token=`` (v2: ``media_url, media_type, version, scene, openid``) →
  ``{"errcode": 0, "trace_id"}``; ``run_media_checks()`` later fetches each URL (a real GET) and returns
  the signed message-push requests WeChat would send to the callback: risky when the image holds
  ``risky_media_marker``.

Every token-bearing call answers 40001 for a token the peer did not issue (``revoke_tokens()``); any
mini-program call answers the next errcode of ``mp_fail_next`` first (e.g. 45011, -1).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import urllib.request
from collections import deque
from typing import Any

from peers.wechat import ERRMSG, WeChatPeer
from peers.wechat import _Handler as SubscribeHandler

MP_ERRMSG = {
    **ERRMSG,
    -1: "system error",
    40003: "invalid openid",
    40029: "invalid code",
    40163: "code been used",
    47001: "data format error",
}


def _error(code: int) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{MP_ERRMSG.get(code, 'error')} rid: {secrets.token_hex(6)}"}


class _Handler(SubscribeHandler):
    def do_GET(self) -> None:
        if self.route() == "/sns/jscode2session":
            self.reply(200, self.peer.jscode2session(self.query()))
            return
        super().do_GET()

    def do_POST(self) -> None:
        routes = {
            "/wxa/business/getuserphonenumber": self.peer.user_phone,
            "/wxa/msg_sec_check": self.peer.msg_sec_check,
            "/wxa/media_check_async": self.peer.media_check_async,
        }
        handle = routes.get(self.route())
        if handle is None:
            super().do_POST()
            return
        self.reply(200, handle(self.query().get("access_token", ""), self.body()))


class MiniProgramPeer(WeChatPeer):
    handler = _Handler

    def __init__(self, app_id: str = "wx-test-appid", app_secret: str = "wx-test-secret") -> None:
        super().__init__(app_id, app_secret)
        self.login_codes: dict[str, tuple[str, str | None]] = {}  # code → (openid, unionid)
        self.used_codes: set[str] = set()
        self.phone_codes: dict[str, tuple[str, str]] = {}  # code → (phone, country code)
        self.openids: set[str] = set()
        self.risky_words: set[str] = {"赌博", "代开发票"}
        self.risky_media_marker = b"RISKY-IMAGE"
        self.mp_fail_next: deque[int] = deque()
        self.media_checks: dict[str, dict[str, Any]] = {}  # trace_id → request body
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (endpoint, request) for the mini-program APIs

    # --- steering ---------------------------------------------------------------------------------

    def issue_login_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        """A code as ``wx.login()`` would give the mini-program for this user."""
        code = "0" + secrets.token_hex(15)
        with self.lock:
            self.login_codes[code] = (openid or "o" + secrets.token_urlsafe(20), unionid)
        return code

    def issue_phone_code(self, phone: str, country_code: str = "86") -> str:
        code = secrets.token_hex(16)
        with self.lock:
            self.phone_codes[code] = (phone, country_code)
        return code

    # --- the endpoints ----------------------------------------------------------------------------

    def _fail(self) -> dict[str, Any] | None:
        return _error(self.mp_fail_next.popleft()) if self.mp_fail_next else None

    def _token_ok(self, token: str) -> bool:
        return token in self.tokens and not self.reject_all_tokens

    def jscode2session(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("jscode2session", dict(query)))
            if failed := self._fail():
                return failed
            if query.get("appid") != self.app_id:
                return _error(40013)
            if query.get("secret") != self.app_secret or query.get("grant_type") != "authorization_code":
                return _error(40125)
            code = query.get("js_code", "")
            if code in self.used_codes:
                return _error(40163)
            if code not in self.login_codes:
                return _error(40029)
            self.used_codes.add(code)
            openid, unionid = self.login_codes.pop(code)
            self.openids.add(openid)
            answer: dict[str, Any] = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
            if unionid:
                answer["unionid"] = unionid
            return answer

    def _body(self, raw: bytes) -> dict[str, Any] | None:
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def user_phone(self, token: str, raw: bytes) -> dict[str, Any]:
        with self.lock:
            body = self._body(raw)
            self.calls.append(("getuserphonenumber", body or {}))
            if not self._token_ok(token):
                return _error(40001)
            if failed := self._fail():
                return failed
            if body is None or not isinstance(body.get("code"), str):
                return _error(47001)
            found = self.phone_codes.pop(body["code"], None)
            if found is None:
                return _error(40029)
            phone, country = found
            return {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone if country == "86" else f"+{country}{phone}",
                    "purePhoneNumber": phone,
                    "countryCode": country,
                    "watermark": {"timestamp": int(time.time()), "appid": self.app_id},
                },
            }

    def msg_sec_check(self, token: str, raw: bytes) -> dict[str, Any]:
        with self.lock:
            body = self._body(raw)
            self.calls.append(("msg_sec_check", body or {}))
            if not self._token_ok(token):
                return _error(40001)
            if failed := self._fail():
                return failed
            if body is None or body.get("version") != 2 or body.get("scene") not in (1, 2, 3, 4):
                return _error(47001)
            if body.get("openid") not in self.openids:
                return _error(40003)
            risky = any(word in str(body.get("content", "")) for word in self.risky_words)
            suggest, label = ("risky", 20006) if risky else ("pass", 100)
            return {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
                "trace_id": secrets.token_hex(12),
            }

    def media_check_async(self, token: str, raw: bytes) -> dict[str, Any]:
        with self.lock:
            body = self._body(raw)
            self.calls.append(("media_check_async", body or {}))
            if not self._token_ok(token):
                return _error(40001)
            if failed := self._fail():
                return failed
            if (
                body is None
                or body.get("version") != 2
                or body.get("media_type") != 2
                or not str(body.get("media_url", "")).startswith(("http://", "https://"))
            ):
                return _error(47001)
            if body.get("openid") not in self.openids:
                return _error(40003)
            trace_id = secrets.token_hex(12)
            self.media_checks[trace_id] = body
            return {"errcode": 0, "errmsg": "ok", "trace_id": trace_id}

    # --- the asynchronous half --------------------------------------------------------------------

    def run_media_checks(self, callback_token: str) -> list[tuple[dict[str, str], bytes]]:
        """Check every submitted image as WeChat would — fetch it, decide — and return the message-push
        requests (query with the signature, JSON body) WeChat would send to the callback URL."""
        with self.lock:
            pending = list(self.media_checks.items())
            self.media_checks.clear()
        pushes = []
        for trace_id, body in pending:
            with urllib.request.urlopen(body["media_url"], timeout=5) as response:  # the real GET
                image = response.read()
            risky = self.risky_media_marker in image
            suggest, label = ("risky", 20002) if risky else ("pass", 100)
            message = {
                "ToUserName": "gh_peer",
                "FromUserName": body["openid"],
                "CreateTime": int(time.time()),
                "MsgType": "event",
                "Event": "wxa_media_check",
                "appid": self.app_id,
                "trace_id": trace_id,
                "version": 2,
                "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
            }
            timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
            signature = hashlib.sha1("".join(sorted([callback_token, timestamp, nonce])).encode()).hexdigest()
            query = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
            pushes.append((query, json.dumps(message, ensure_ascii=False).encode()))
        return pushes
