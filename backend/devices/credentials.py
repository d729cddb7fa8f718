"""Device secrets: generated here, shown to the operator once, stored encrypted.

The server needs the secret itself to compute HMACs, so it is encrypted at rest (Fernet: AES-128-CBC
plus HMAC-SHA256) with a key derived from SECRET_KEY by HKDF-SHA256. Changing SECRET_KEY therefore
makes every stored device secret unreadable: rotate all devices after changing it.
"""

from __future__ import annotations

import base64
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"chengguan/device-secrets/v1"


def generate_secret() -> str:
    """A new device secret: 43 URL-safe characters (256 random bits); the HMAC key is its UTF-8 bytes."""
    return secrets.token_urlsafe(32)


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret_key: str, secret: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(secret_key: str, token: str) -> str | None:
    """The plain secret, or None when ``token`` was not made with this SECRET_KEY."""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
