"""Presigned uploads straight to the S3 server, confirmed against their limits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from backend.errors import NotFound
from backend.storage import StorageService, UploadRejected

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 2048


@pytest.fixture
def storage(runtime: Any) -> StorageService:
    return runtime.storage  # type: ignore[no-any-return]


def _key() -> str:
    return f"test/{uuid.uuid4()}.jpg"


async def test_presigned_put_round_trip(storage: StorageService) -> None:
    key = _key()
    upload = storage.presign_put(key, "image/jpeg", allowed_types={"image/jpeg", "image/png"}, max_bytes=10_000)
    async with httpx.AsyncClient() as http:
        put = await http.put(upload.url, content=JPEG, headers=upload.headers)
        assert put.status_code == 200, put.text
        assert await storage.confirm_upload(key, content_type="image/jpeg", max_bytes=upload.max_bytes) == len(JPEG)
        got = await http.get(storage.presign_get(key))
    assert got.status_code == 200 and got.content == JPEG
    await storage.delete(key)


async def test_oversized_upload_is_rejected_and_deleted(storage: StorageService) -> None:
    key = _key()
    upload = storage.presign_put(key, "image/jpeg", max_bytes=1024)
    async with httpx.AsyncClient() as http:
        assert (await http.put(upload.url, content=JPEG, headers=upload.headers)).status_code == 200
    with pytest.raises(UploadRejected, match="over the limit"):
        await storage.confirm_upload(key, content_type="image/jpeg", max_bytes=upload.max_bytes)
    with pytest.raises(NotFound):  # nothing half-kept
        await storage.confirm_upload(key, content_type="image/jpeg", max_bytes=upload.max_bytes)


async def test_wrong_content_type_is_rejected(storage: StorageService) -> None:
    key = _key()
    upload = storage.presign_put(key, "image/jpeg", max_bytes=10_000)
    async with httpx.AsyncClient() as http:
        await http.put(upload.url, content=JPEG, headers={"Content-Type": "text/html"})
    with pytest.raises(UploadRejected, match="type"):
        await storage.confirm_upload(key, content_type="image/jpeg", max_bytes=upload.max_bytes)


def test_disallowed_type_is_refused_before_signing(storage: StorageService) -> None:
    with pytest.raises(UploadRejected):
        storage.presign_put(_key(), "application/x-msdownload", allowed_types={"image/jpeg"})


def test_requested_limit_cannot_exceed_the_configured_one(storage: StorageService) -> None:
    upload = storage.presign_put(_key(), "image/jpeg", max_bytes=10**12)
    assert upload.max_bytes == storage.settings.upload_max_bytes


async def test_presigned_post_form_upload(storage: StorageService) -> None:
    key = _key()
    upload = storage.presign_post(key, "image/jpeg", max_bytes=10_000)
    assert upload.fields["key"] == key and "policy" in upload.fields
    async with httpx.AsyncClient() as http:
        response = await http.post(upload.url, data=upload.fields, files={"file": ("a.jpg", JPEG, "image/jpeg")})
    assert response.status_code in {200, 201, 204}, response.text
    assert await storage.get_bytes(key) == JPEG
    await storage.delete(key)


async def test_missing_upload_is_not_found(storage: StorageService) -> None:
    with pytest.raises(NotFound):
        await storage.confirm_upload(_key(), content_type="image/jpeg", max_bytes=100)
