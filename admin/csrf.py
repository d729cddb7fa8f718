"""CSRF protection for the console (cookie-authenticated, so a forged cross-site form would carry the
session): every form carries a token bound to the session, and every unsafe request must return it —
in the ``csrf_token`` form field or the ``X-CSRF-Token`` header (sqladmin's own delete is an AJAX call;
the layout adds the header to every jQuery request).

Sign-in is exempt: there is no session to bind a token to before it, and the session cookie is
``SameSite=Strict`` besides.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.request_id import current_request_id

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_SUFFIXES = ("/login",)
MAX_BODY = 32 * 1024 * 1024
"""The console is served beside Litestar, not through it, so it keeps its own body limit."""


def csrf_token(request: Request) -> str:
    """The session's token, made on first use."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def _refused(scope: Scope, status: int, message: str) -> Response:
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
    code = "csrf_failed" if status == 403 else "payload_too_large"
    if "application/json" in accept and "text/html" not in accept:
        body = {"error": {"code": code, "message": message, "details": None, "request_id": current_request_id()}}
        return JSONResponse(body, status_code=status)
    page = (
        "<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><title>请求被拒绝</title>"
        f"<body style='font-family:sans-serif;padding:3em'><h1>{status}</h1><p>{message}</p>"
        "<p><a href='javascript:history.back()'>返回上一页</a>，刷新后重试。</p></body></html>"
    )
    return HTMLResponse(page, status_code=status)


async def _submitted_token(scope: Scope, body: bytes) -> str | None:
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        form: FormData = await Request(scope, replay).form()
        try:
            value: Any = form.get(FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


class CSRFMiddleware:
    """Refuses an unsafe request whose token does not match the session's (403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or scope["path"].endswith(EXEMPT_SUFFIXES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await _refused(scope, 413, "请求内容过大。")(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        expected = scope.get("session", {}).get(SESSION_KEY)
        given = dict(scope.get("headers") or []).get(HEADER, b"").decode("latin-1") or await _submitted_token(
            scope, body
        )
        if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
            await _refused(scope, 403, "表单已失效或来源不可信（CSRF 校验失败）。")(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
