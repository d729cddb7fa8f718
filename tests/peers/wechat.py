"""A WeChat API peer (api.weixin.qq.com) for the mini-program subscribe messages:

- ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` → ``{"access_token", "expires_in"}``;
  40013 for an unknown appid, 40125 for a wrong secret.
- ``POST /cgi-bin/message/subscribe/send?access_token=`` with the JSON body of ``subscribeMessage.send`` →
  ``{"errcode": 0, "errmsg": "ok", "msgid"}``; 40001 for a token it did not issue (or revoked), 43101 for a
  user who refused (or has no subscription), 45009/45011 when rate limited, 47003 for a bad body.

Tests steer it through attributes: ``refused`` openids, ``fail_next`` errcodes, ``slow_s``,
``revoke_tokens()``, ``reject_all_tokens``; and read ``sent`` (accepted bodies), ``token_requests`` and
``send_requests``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from typing import Any

from peers._http import PeerHandler, PeerServer

ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40125: "invalid appsecret",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47003: "argument invalid! data.thing2.value invalid",
}


def _error(code: int) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{ERRMSG.get(code, 'error')} rid: {secrets.token_hex(6)}"}


class _Handler(PeerHandler):
    def do_GET(self) -> None:
        if self.route() != "/cgi-bin/token":
            self.reply(404, {"errcode": 404, "errmsg": "not found"})
            return
        self.reply(200, self.peer.issue_token(self.query()))

    def do_POST(self) -> None:
        if self.route() != "/cgi-bin/message/subscribe/send":
            self.reply(404, {"errcode": 404, "errmsg": "not found"})
            return
        body = self.body()
        if self.peer.slow_s:
            time.sleep(self.peer.slow_s)
        self.reply(200, self.peer.subscribe_send(self.query().get("access_token", ""), body))


class WeChatPeer(PeerServer):
    handler = _Handler

    def __init__(self, app_id: str = "wx-test-appid", app_secret: str = "wx-test-secret") -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.refused: set[str] = set()
        self.fail_next: deque[int] = deque()
        self.slow_s = 0.0
        self.sent: list[dict[str, Any]] = []
        self.send_requests = 0
        self.reject_all_tokens = False

    def issue_token(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.token_requests += 1
            if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id:
                return _error(40013)
            if query.get("secret") != self.app_secret:
                return _error(40125)
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return {"access_token": token, "expires_in": 7200}

    def revoke_tokens(self) -> None:
        """As if another party fetched a new token long enough ago: every token issued so far is refused."""
        with self.lock:
            self.tokens.clear()

    def subscribe_send(self, token: str, raw: bytes) -> dict[str, Any]:
        with self.lock:
            self.send_requests += 1
            if token not in self.tokens or self.reject_all_tokens:
                return _error(40001)
            if self.fail_next:
                return _error(self.fail_next.popleft())
            try:
                body = json.loads(raw)
                openid, template_id, data = body["touser"], body["template_id"], body["data"]
                assert isinstance(openid, str) and isinstance(template_id, str)
                assert all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values())
                assert all(len(v["value"]) <= 20 for k, v in data.items() if k.startswith("thing"))
            except (ValueError, KeyError, AssertionError, AttributeError):
                return _error(47003)
            if openid in self.refused:
                return _error(43101)
            self.sent.append(body)
            return {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.sent)}
