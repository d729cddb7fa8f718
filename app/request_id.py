"""Request ids: taken from ``X-Request-ID`` when sane, generated otherwise; echoed in the response,
carried by every log line and error body of the request."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

from litestar.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()


def current_request_id() -> str:
    return _request_id.get()


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and _VALID.match(incoming) else os.urandom(16).hex()
        token = _request_id.set(rid)
        header = (_HEADER_BYTES, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)

    return middleware
