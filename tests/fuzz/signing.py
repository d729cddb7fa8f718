"""Device request signing for the fuzzer — the hook the device-ingest engineer fills in (issue 7).

Every request the fuzzer sends to an ``/ingest/...`` path passes through ``sign_device_request``
after schemathesis has serialized it, so the signature covers the exact bytes the app receives:
the fuzzer reaches the handlers behind the signature check instead of stopping at 401.
"""

from __future__ import annotations

from dataclasses import dataclass

INGEST_PREFIX = "/ingest/"


@dataclass(frozen=True)
class WireRequest:
    """A request as it goes on the wire: what a signature is computed over."""

    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes


def sign_device_request(request: WireRequest) -> dict[str, str]:
    """The signature headers of the demo toilet sensor (seeded with the demo city, its secret
    derived from SECRET_KEY) for ``request``, with a fresh timestamp and nonce."""
    from backend.devices.seed import DEMO_DEVICES, demo_secret
    from backend.devices.signing import signed_headers
    from backend.settings import get_settings

    device = DEMO_DEVICES[0]
    secret = demo_secret(get_settings().app.secret_key, device.code)
    return signed_headers(str(device.id), secret, request.method, request.path, request.body)
