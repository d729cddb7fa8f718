"""Photo uploads (照片上传): presigned straight to object storage, confirmed, attached to a case, then
stripped of their metadata and checked before the public sees them.

1. ``issue_upload`` — a presigned PUT (or POST form, for ``wx.uploadFile``) for one image of an allowed
   type, with the size limit; a ``media_uploads`` row remembers who may use the key.
2. ``confirm`` — after the client uploaded: the store's size and type against the limits (the object is
   deleted when it breaks them), the first bytes sniffed (a PNG declared as JPEG is refused too), and
   the EXIF GPS position read from the head of the file — a location *suggestion* for the report.
3. ``attach`` — a report takes confirmed uploads; one ``media.process`` outbox message per photo.
4. ``process`` (the job) — writes ``public/<id>.<ext>``, a copy without EXIF/XMP/comments, and submits it
   to the content check (``mediaCheckAsync``; the dev provider passes it at once). The original stays
   private under ``private/``; the public copy is shown only once ``check_status`` is ``passed``.
5. ``apply_check_result`` — the WeChat callback with a trace_id's verdict.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from minio.error import S3Error
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict, NotFound, RateLimited, ValidationFailed
from backend.media.rules import EXTENSIONS, HEAD_BYTES, IMAGE_TYPES, ExifInfo, read_exif, sniff
from backend.models import MediaUpload
from backend.outbox import publish
from backend.storage import PresignedUpload, StorageService, UploadRejected

PROCESS_TOPIC = "media.process"
MAX_ISSUED_PER_HOUR = 120  # presigned URLs one owner may ask for in an hour
PUBLIC_URL_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedUpload:
    upload: MediaUpload
    presigned: PresignedUpload


@dataclass(frozen=True)
class ConfirmedUpload:
    upload: MediaUpload
    exif: ExifInfo


def _now() -> datetime:
    return datetime.now(UTC)


async def issue_upload(
    session: AsyncSession,
    storage: StorageService,
    owner_kind: str,
    owner_id: str,
    content_type: str,
    *,
    max_bytes: int,
    method: str = "put",
    now: datetime | None = None,
) -> IssuedUpload:
    now = now or _now()
    if content_type not in IMAGE_TYPES:
        raise UploadRejected(f"content type {content_type!r} is not allowed", details={"allowed": sorted(IMAGE_TYPES)})
    recent = await session.scalar(
        select(func.count())
        .select_from(MediaUpload)
        .where(
            MediaUpload.owner_kind == owner_kind,
            MediaUpload.owner_id == owner_id,
            MediaUpload.created_at >= now - timedelta(hours=1),
        )
    )
    if (recent or 0) >= MAX_ISSUED_PER_HOUR:
        raise RateLimited("too many uploads in the last hour; try again later", code="too_many_uploads")
    upload_id = uuid.uuid4()
    key = f"private/{owner_kind}/{owner_id}/{upload_id}.{EXTENSIONS[content_type]}"
    sign = storage.presign_post if method == "post" else storage.presign_put
    presigned = sign(key, content_type, allowed_types=set(IMAGE_TYPES), max_bytes=max_bytes)
    upload = MediaUpload(
        id=upload_id,
        key=key,
        owner_kind=owner_kind,
        owner_id=owner_id,
        content_type=content_type,
        max_bytes=presigned.max_bytes,
        state="issued",
        check_status="pending",
        created_at=now,
    )
    session.add(upload)
    await session.flush()
    return IssuedUpload(upload=upload, presigned=presigned)


async def read_head(storage: StorageService, key: str, length: int = HEAD_BYTES) -> bytes:
    """The first ``length`` bytes of an object (a ranged GET: the API never pulls a whole photo)."""

    def get() -> bytes:
        response = storage.client.get_object(storage.bucket, key, offset=0, length=length)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    try:
        return await asyncio.to_thread(get)
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
            raise NotFound(f"no uploaded object at {key!r}", code="upload_missing") from None
        raise


async def _owned(session: AsyncSession, owner_kind: str, owner_id: str, key: str) -> MediaUpload:
    upload = await session.scalar(
        select(MediaUpload)
        .where(MediaUpload.key == key, MediaUpload.owner_kind == owner_kind, MediaUpload.owner_id == owner_id)
        .with_for_update()
    )
    if upload is None:
        raise NotFound("no such upload", code="upload_not_found", details={"key": key})
    return upload


async def confirm(
    session: AsyncSession,
    storage: StorageService,
    owner_kind: str,
    owner_id: str,
    key: str,
    *,
    now: datetime | None = None,
) -> ConfirmedUpload:
    """Check what arrived at ``key``; a broken upload is deleted and refused (``UploadRejected``)."""
    now = now or _now()
    upload = await _owned(session, owner_kind, owner_id, key)
    if upload.state != "issued":  # confirmed before (the client asked twice, or a report retried)
        exif = ExifInfo(lat=upload.exif_lat, lng=upload.exif_lng)
        return ConfirmedUpload(upload=upload, exif=exif)
    size = await storage.confirm_upload(key, content_type=upload.content_type, max_bytes=upload.max_bytes)
    head = await read_head(storage, key)
    found = sniff(head)
    if found != upload.content_type:
        await storage.delete(key)
        raise UploadRejected(
            f"the uploaded bytes are not a {upload.content_type} image",
            details={"key": key, "found": found},
        )
    exif = read_exif(head)
    upload.size_bytes = size
    upload.state = "confirmed"
    upload.confirmed_at = now
    upload.exif_lat, upload.exif_lng = exif.lat, exif.lng
    await session.flush()
    return ConfirmedUpload(upload=upload, exif=exif)


async def confirm_all(
    session: AsyncSession,
    storage: StorageService,
    owner_kind: str,
    owner_id: str,
    keys: Sequence[str],
    *,
    max_count: int = 9,
    now: datetime | None = None,
) -> list[MediaUpload]:
    """Confirm every photo a report names, before anything of the report is written; any missing,
    oversized, wrong-type or already used upload refuses the whole report."""
    if len(keys) > max_count:
        raise ValidationFailed(f"at most {max_count} photos", code="too_many_photos")
    if len(set(keys)) != len(keys):
        raise ValidationFailed("the same photo is listed twice", code="duplicate_photo")
    uploads = []
    for key in keys:
        confirmed = await confirm(session, storage, owner_kind, owner_id, key, now=now)
        if confirmed.upload.state == "attached":
            raise Conflict("this photo belongs to another report already", code="upload_used", details={"key": key})
        uploads.append(confirmed.upload)
    return uploads


async def attach(session: AsyncSession, uploads: Sequence[MediaUpload], case_id: uuid.UUID) -> None:
    """The photos now belong to ``case_id``; each is stripped and checked by the ``media.process`` job."""
    for upload in uploads:
        upload.state = "attached"
        upload.case_id = case_id
        await publish(session, PROCESS_TOPIC, {"upload_id": str(upload.id)}, dedup_key=f"{PROCESS_TOPIC}:{upload.id}")
    await session.flush()


async def uploads_by_key(session: AsyncSession, keys: Sequence[str]) -> dict[str, MediaUpload]:
    if not keys:
        return {}
    rows = await session.scalars(select(MediaUpload).where(MediaUpload.key.in_(list(keys))))
    return {row.key: row for row in rows.all()}


def public_url(storage: StorageService, upload: MediaUpload) -> str | None:
    """A short-lived URL of the public copy — only once it exists and the content check passed."""
    if upload.check_status != "passed" or upload.public_key is None:
        return None
    return storage.presign_get(upload.public_key, expires=PUBLIC_URL_TTL)


async def apply_check_result(
    session: AsyncSession, trace_id: str, suggest: str, label: int | None, *, now: datetime | None = None
) -> MediaUpload | None:
    """The verdict of an asynchronous media check; None for a trace_id we never submitted."""
    upload = await session.scalar(select(MediaUpload).where(MediaUpload.check_trace_id == trace_id).with_for_update())
    if upload is None:
        return None
    upload.check_status = {"pass": "passed", "review": "review", "risky": "rejected"}.get(suggest, "review")
    upload.check_label = label
    upload.checked_at = now or _now()
    await session.flush()
    return upload
