"""``Idempotency-Key`` for POSTs (DESIGN §12), once for every surface: the first successful response to a
key is stored in Redis and replayed for a retry with the same key; the same key with a different
request is refused.

Use it on a router or handler with ``middleware=[IdempotencyMiddleware]`` and declare the header on
each POST with ``idempotency_key: IdempotencyKey = None`` (so it is in the OpenAPI document).

How it behaves, per caller (the ``Authorization`` header's hash) and key:

- first request: a short *in progress* marker is set atomically (``SET NX``), the request runs, and a
  2xx response (status, headers, body) is stored for 24 hours — *after* the transaction committed,
  since the commit happens when the response starts (``app/transactions.py``);
- a response that is not 2xx is not stored: its transaction was rolled back, nothing was written, so
  the marker is released and the client may retry with the same key (and a corrected body);
- the same key again with the same method, path, query and body: the stored response, with
  ``Idempotent-Replayed: true`` — nothing runs, nothing is written;
- the same key with a different request: 422 ``idempotency_key_reused``;
- the same key while the first is still running: 409 ``idempotency_in_progress`` (retry shortly).

A process that dies between commit and storing leaves the marker to expire after ``LOCK_TTL_S``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Any, Final

from litestar.middleware import ASGIMiddleware
from litestar.params import Parameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import Conflict, DomainError, ValidationFailed

HEADER: Final = "idempotency-key"
KEY_MAX: Final = 255
LOCK_TTL_S: Final = 60
STORE_TTL_S: Final = 24 * 3600
PREFIX: Final = "idem:"
IN_PROGRESS: Final = "A request with this Idempotency-Key is being processed; retry shortly"
# Response headers that belong to one response only and are never replayed.
_NOT_REPLAYED: Final = frozenset({b"x-request-id", b"date", b"set-cookie", b"content-length"})

IdempotencyKey = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=KEY_MAX,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "A client-chosen unique key (e.g. a UUID) for this request: a retry with the same key returns the "
            "first successful response without doing anything again; the same key with a different request "
            "is refused (422)."
        ),
    ),
]


class InvalidIdempotencyKey(ValidationFailed):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_hint = 422


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"


class BodyTooLarge(DomainError):
    code = "payload_too_large"
    status_hint = 413


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def _valid_key(raw: bytes) -> bool:
    return 1 <= len(raw) <= KEY_MAX and all(0x21 <= b <= 0x7E for b in raw)


class IdempotencyMiddleware(ASGIMiddleware):
    def __call__(self, app: ASGIApp) -> ASGIApp:
        # Anything but a POST passes straight through, at the cost of one comparison (Litestar's
        # generic wrapper checks exclusions first: more than some whole GET handlers cost).
        handle = self.handle

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope.get("method") == "POST":
                await handle(scope, receive, send, app)
            else:
                await app(scope, receive, send)

        return middleware

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """An HTTP POST (``__call__`` lets everything else through)."""
        raw_key = _header(scope, HEADER.encode())
        if raw_key is None:
            await next_app(scope, receive, send)
            return
        if not _valid_key(raw_key):
            raise InvalidIdempotencyKey(f"Idempotency-Key must be 1-{KEY_MAX} printable ASCII characters")
        runtime = scope["litestar_app"].state.runtime
        body, replay_receive = await _buffer(receive, runtime.settings.app.max_body_bytes)
        redis = runtime.redis
        caller = hashlib.sha256(_header(scope, b"authorization") or b"-").hexdigest()
        slot = PREFIX + hashlib.sha256(f"{caller}:".encode() + raw_key).hexdigest()
        fingerprint = hashlib.sha256(
            b"\n".join([b"POST", scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()

        marker = json.dumps({"state": "processing", "fingerprint": fingerprint})
        if not await redis.set(slot, marker, nx=True, ex=LOCK_TTL_S):
            stored_raw = await redis.get(slot)
            if stored_raw is not None:
                await _replay(send, json.loads(stored_raw), fingerprint)
                return
            # The marker expired between the two calls: this request goes first after all.
            if not await redis.set(slot, marker, nx=True, ex=LOCK_TTL_S):
                raise IdempotencyInProgress(IN_PROGRESS)

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await next_app(scope, replay_receive, capture)
        except BaseException:
            await redis.delete(slot)
            raise
        if 200 <= status < 300:
            record = {
                "state": "done",
                "fingerprint": fingerprint,
                "status": status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers if k not in _NOT_REPLAYED],
                "body": base64.b64encode(b"".join(chunks)).decode(),
            }
            await redis.set(slot, json.dumps(record), ex=STORE_TTL_S)
        else:
            await redis.delete(slot)


async def _replay(send: Send, stored: dict[str, Any], fingerprint: str) -> None:
    if stored.get("fingerprint") != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key for a new request"
        )
    if stored.get("state") != "done":
        raise IdempotencyInProgress(IN_PROGRESS)
    body = base64.b64decode(stored["body"])
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored["headers"]]
    headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": stored["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _buffer(receive: Receive, limit: int) -> tuple[bytes, Receive]:
    """Read the whole request body (at most ``limit`` bytes), and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        size += len(chunks[-1])
        if size > limit:
            raise BodyTooLarge("Request body is too large")
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    delivered = False

    async def replay() -> Any:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
