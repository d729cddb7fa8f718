"""Object storage service: bucket bootstrap, presigned uploads with type and size limits,
presigned downloads.

Clients upload straight to storage (never through the API process). A presigned PUT cannot
carry a size limit, so every upload is *confirmed* afterwards: ``confirm_upload`` reads the
object's real size and type from the store and deletes it when either is outside the limits it
was issued for. A presigned POST (the form ``wx.uploadFile`` sends) additionally carries a
``content-length-range`` policy that the store itself enforces.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from minio import Minio
from minio.datatypes import PostPolicy
from minio.error import S3Error

from backend.errors import NotFound, ValidationFailed
from backend.settings import StorageSettings


class UploadRejected(ValidationFailed):
    code = "upload_rejected"


@dataclass(frozen=True)
class PresignedUpload:
    key: str
    method: str
    url: str
    headers: dict[str, str]
    fields: dict[str, str]
    max_bytes: int
    content_type: str
    expires_at: datetime


def _client(endpoint: str, settings: StorageSettings) -> Minio:
    parsed = urlparse(endpoint)
    return Minio(
        parsed.netloc,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=parsed.scheme == "https",
        # With the region given, minio never asks the server for it (one round trip less per presign).
        region=settings.region,
    )


class StorageService:
    def __init__(self, settings: StorageSettings, endpoint: str | None = None) -> None:
        target = endpoint or settings.endpoint
        if target is None:
            raise RuntimeError("S3_ENDPOINT is not set and no embedded S3 server was started")
        self.settings = settings
        self.bucket = settings.bucket
        self.client = _client(target, settings)
        # Presigned URLs are signed for the host the *client* will use, which may differ from ours.
        self.public_client = _client(settings.public_endpoint, settings) if settings.public_endpoint else self.client

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:  # another process created it between the two calls
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise

        await asyncio.to_thread(ensure)

    async def ping(self) -> None:
        """Raise unless the store answers and the bucket exists (used by /readyz)."""
        exists = await asyncio.to_thread(self.client.bucket_exists, self.bucket)
        if not exists:
            raise RuntimeError(f"bucket {self.bucket!r} does not exist")

    def _check_request(self, content_type: str, allowed_types: set[str] | None, max_bytes: int | None) -> int:
        limit = max_bytes or self.settings.upload_max_bytes
        if limit > self.settings.upload_max_bytes:
            limit = self.settings.upload_max_bytes
        if allowed_types is not None and content_type not in allowed_types:
            raise UploadRejected(
                f"content type {content_type!r} is not allowed",
                details={"allowed": sorted(allowed_types)},
            )
        return limit

    def presign_put(
        self,
        key: str,
        content_type: str,
        *,
        allowed_types: set[str] | None = None,
        max_bytes: int | None = None,
    ) -> PresignedUpload:
        limit = self._check_request(content_type, allowed_types, max_bytes)
        expiry = timedelta(seconds=self.settings.presign_expiry_s)
        url = self.public_client.presigned_put_object(self.bucket, key, expires=expiry)
        return PresignedUpload(
            key=key,
            method="PUT",
            url=url,
            headers={"Content-Type": content_type},
            fields={},
            max_bytes=limit,
            content_type=content_type,
            expires_at=datetime.now(UTC) + expiry,
        )

    def presign_post(
        self,
        key: str,
        content_type: str,
        *,
        allowed_types: set[str] | None = None,
        max_bytes: int | None = None,
    ) -> PresignedUpload:
        limit = self._check_request(content_type, allowed_types, max_bytes)
        expiry = timedelta(seconds=self.settings.presign_expiry_s)
        expires_at = datetime.now(UTC) + expiry
        policy = PostPolicy(self.bucket, expires_at)
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(1, limit)
        fields = self.public_client.presigned_post_policy(policy)
        base = self.settings.public_endpoint or self.settings.endpoint or ""
        return PresignedUpload(
            key=key,
            method="POST",
            url=f"{base.rstrip('/')}/{self.bucket}",
            headers={},
            fields={"key": key, "Content-Type": content_type, **fields},
            max_bytes=limit,
            content_type=content_type,
            expires_at=expires_at,
        )

    async def confirm_upload(self, key: str, *, content_type: str, max_bytes: int) -> int:
        """Check what actually arrived; delete it and raise ``UploadRejected`` if it breaks the limits.
        Returns the object's size in bytes."""

        def stat() -> tuple[int, str]:
            try:
                info = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
                    raise NotFound(f"no uploaded object at {key!r}", code="upload_missing") from None
                raise
            return int(info.size or 0), (info.content_type or "")

        size, actual_type = await asyncio.to_thread(stat)
        problem: str | None = None
        if size <= 0:
            problem = "the uploaded object is empty"
        elif size > max_bytes:
            problem = f"the uploaded object is {size} bytes, over the limit of {max_bytes}"
        elif actual_type.split(";")[0].strip() != content_type:
            problem = f"the uploaded object has type {actual_type!r}, expected {content_type!r}"
        if problem is not None:
            await asyncio.to_thread(self.client.remove_object, self.bucket, key)
            raise UploadRejected(problem, details={"key": key, "size": size, "content_type": actual_type})
        return size

    def presign_get(self, key: str, *, expires: timedelta | None = None) -> str:
        return self.public_client.presigned_get_object(
            self.bucket, key, expires=expires or timedelta(seconds=self.settings.presign_expiry_s)
        )

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def get_bytes(self, key: str) -> bytes:
        def get() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(get)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.remove_object, self.bucket, key)
