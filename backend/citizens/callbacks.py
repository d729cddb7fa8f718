"""WeChat message push (消息推送) to our server: the results of ``mediaCheckAsync``.

Configured in the mini-program console with our URL, the token ``WECHAT_CALLBACK_TOKEN`` and the JSON
data format in plain-text mode (明文模式); a request is trusted only with a valid signature (sha1 of
the sorted token, timestamp and nonce). Events other than ``wxa_media_check`` are acknowledged and
ignored.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens.wechat import verify_push_signature
from backend.errors import Forbidden, NotFound, ValidationFailed
from backend.media.service import apply_check_result


def verify(token: str | None, signature: str, timestamp: str, nonce: str) -> None:
    if not token:
        raise NotFound("the WeChat callback is not configured", code="not_found")
    if not verify_push_signature(token, signature, timestamp, nonce):
        raise Forbidden("invalid signature", code="invalid_signature")


async def handle(session: AsyncSession, body: bytes) -> str | None:
    """Apply one pushed message; returns the trace_id it settled, if any."""
    try:
        message: Any = json.loads(body)
    except ValueError:
        raise ValidationFailed("the message is not JSON", code="malformed_body") from None
    if not isinstance(message, dict) or message.get("Event") != "wxa_media_check":
        return None
    trace_id = message.get("trace_id")
    result = message.get("result") or {}
    if not isinstance(trace_id, str) or not isinstance(result, dict):
        raise ValidationFailed("a media check result needs trace_id and result", code="malformed_body")
    label = result.get("label")
    upload = await apply_check_result(
        session, trace_id, str(result.get("suggest") or ""), int(label) if isinstance(label, int) else None
    )
    return trace_id if upload is not None else None
