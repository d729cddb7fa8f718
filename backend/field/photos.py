"""Photo evidence (照片) of field work: uploaded straight to object storage by presigned URL, then
referenced by key in a write (a disposal, a check, an inspection) and confirmed there.

Keys are ``field/<staff id>/<yyyymmdd>/<random>.<ext>``: a write may only reference its author's
uploads, and the extension says what type the upload was signed for, so confirming needs no table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from backend.errors import NotFound, ValidationFailed
from backend.storage import PresignedUpload, StorageService

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}
_TYPE_OF_EXT = {ext: content_type for content_type, ext in IMAGE_TYPES.items()}
MAX_PHOTOS = 9
_KEY = re.compile(r"^field/(?P<staff>[0-9a-f-]{36})/\d{8}/[0-9a-f]{32}\.(?P<ext>jpg|png|webp|heic)$")


def presign_photo(storage: StorageService, staff_id: uuid.UUID, content_type: str) -> PresignedUpload:
    if content_type not in IMAGE_TYPES:
        raise ValidationFailed(
            f"content type {content_type!r} is not allowed",
            code="upload_rejected",
            details={"allowed": sorted(IMAGE_TYPES)},
        )
    key = f"field/{staff_id}/{datetime.now(UTC):%Y%m%d}/{uuid.uuid4().hex}.{IMAGE_TYPES[content_type]}"
    return storage.presign_put(key, content_type, allowed_types=set(IMAGE_TYPES))


def check_keys(staff_id: uuid.UUID, keys: Sequence[str]) -> list[str]:
    """The keys, checked to be this staff member's photo uploads (no storage call)."""
    if len(keys) > MAX_PHOTOS:
        raise ValidationFailed(f"at most {MAX_PHOTOS} photos", code="too_many_photos")
    if len(set(keys)) != len(keys):
        raise ValidationFailed("a photo is listed twice", code="duplicate_photo")
    for key in keys:
        match = _KEY.match(key)
        if match is None or match.group("staff") != str(staff_id):
            raise ValidationFailed("not a photo you uploaded", code="photo_not_yours", details={"key": key})
    return list(keys)


async def confirm_photos(storage: StorageService, staff_id: uuid.UUID, keys: Sequence[str]) -> list[str]:
    """Check every key is the caller's and really uploaded within the limits (a bad one is deleted)."""
    for key in check_keys(staff_id, keys):
        match = _KEY.match(key)
        assert match is not None
        try:
            await storage.confirm_upload(
                key, content_type=_TYPE_OF_EXT[match.group("ext")], max_bytes=storage.settings.upload_max_bytes
            )
        except NotFound:
            raise ValidationFailed("the photo was not uploaded", code="upload_missing", details={"key": key}) from None
    return list(keys)
