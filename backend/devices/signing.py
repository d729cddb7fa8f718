"""Request signatures of devices (HMAC-SHA256), shared by the server, the CLI, tests and benchmarks.

A device signs every request with its own secret::

    string_to_sign = METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + hex(sha256(body))
    X-Signature    = hex(hmac_sha256(key=secret as UTF-8, msg=string_to_sign))

Headers: ``X-Device-Id`` (the device id), ``X-Timestamp`` (Unix seconds; within ±300 s of the
server's clock), ``X-Nonce`` (16–64 characters of ``A-Z a-z 0-9 _ -``, never reused), and
``X-Signature`` (64 lowercase hex digits). ``PATH`` is the request path without the query string,
e.g. ``/ingest/v1/telemetry``; ``METHOD`` is upper case.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

HEADER_DEVICE = "x-device-id"
HEADER_TIMESTAMP = "x-timestamp"
HEADER_NONCE = "x-nonce"
HEADER_SIGNATURE = "x-signature"

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SIGNATURE_PATTERN = re.compile(r"^[0-9a-f]{64}$")
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class SignedHeaders:
    """The four signature headers of a request, as received (syntax checked, nothing verified)."""

    device_id: str
    timestamp: int
    nonce: str
    signature: str


def string_to_sign(method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign(secret: str, method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def verify(secret: str, headers: SignedHeaders, method: str, path: str, body: bytes) -> bool:
    expected = sign(secret, method, path, headers.timestamp, headers.nonce, body)
    return hmac.compare_digest(expected, headers.signature)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def signed_headers(
    device_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers a device sends with ``body`` (what device firmware implements)."""
    ts = int(time.time()) if timestamp is None else timestamp
    n = nonce or new_nonce()
    return {
        "X-Device-Id": device_id,
        "X-Timestamp": str(ts),
        "X-Nonce": n,
        "X-Signature": sign(secret, method, path, ts, n, body),
    }


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders | None:
    """The signature headers if all four are present and well-formed, else None."""
    device_id = headers.get(HEADER_DEVICE)
    timestamp = headers.get(HEADER_TIMESTAMP)
    nonce = headers.get(HEADER_NONCE)
    signature = headers.get(HEADER_SIGNATURE)
    if not device_id or not timestamp or not nonce or not signature:
        return None
    if not TIMESTAMP_PATTERN.match(timestamp) or not NONCE_PATTERN.match(nonce):
        return None
    signature = signature.lower()
    if not SIGNATURE_PATTERN.match(signature) or len(device_id) > 64:
        return None
    return SignedHeaders(device_id=device_id, timestamp=int(timestamp), nonce=nonce, signature=signature)


def within_skew(timestamp: int, now: float, skew_s: int) -> bool:
    return abs(now - timestamp) <= skew_s
