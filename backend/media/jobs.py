"""The ``media.process`` outbox handler: strip a photo's metadata into its public copy and submit that
copy to the content check (imported by the worker, see ``backend/worker.py``).

The handler runs in the job's transaction; the object store and the WeChat provider come from
``get_media_context()`` (built from the settings once per process; tests install their own).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens.wechat import SCENE_FORUM, MiniProgramProvider, get_provider
from backend.media.rules import EXTENSIONS, NotAnImage, read_exif, strip_metadata
from backend.media.service import PROCESS_TOPIC, PUBLIC_URL_TTL
from backend.models import Citizen, MediaUpload, OutboxMessage
from backend.outbox import handler
from backend.settings import get_settings
from backend.storage import StorageService

log = logging.getLogger("chengguan.media")


@dataclass
class MediaContext:
    storage: StorageService
    provider: MiniProgramProvider


_context: MediaContext | None = None


def get_media_context() -> MediaContext:
    global _context
    if _context is None:
        _context = MediaContext(storage=StorageService(get_settings().storage), provider=get_provider())
    return _context


@contextmanager
def use_media_context(context: MediaContext) -> Iterator[MediaContext]:
    global _context
    previous, _context = _context, context
    try:
        yield context
    finally:
        _context = previous


async def process(session: AsyncSession, upload_id: uuid.UUID, context: MediaContext) -> MediaUpload | None:
    """Write the public copy and submit it to the content check; does nothing the second time."""
    upload = await session.get(MediaUpload, upload_id, with_for_update=True)
    if upload is None or upload.processed_at is not None:
        return upload
    now = datetime.now(UTC)
    original = await context.storage.get_bytes(upload.key)
    try:
        public = strip_metadata(original, upload.content_type)
    except NotAnImage as exc:
        log.warning("upload %s is not a usable image: %s", upload.id, exc.message)
        upload.check_status = "rejected"
        upload.processed_at = now
        return upload
    if upload.exif_lat is None:  # WebP keeps EXIF at the end, beyond the head read at confirmation
        exif = read_exif(original)
        upload.exif_lat, upload.exif_lng = exif.lat, exif.lng
    public_key = f"public/{upload.id}.{EXTENSIONS[upload.content_type]}"
    await context.storage.put_bytes(public_key, public, upload.content_type)
    upload.public_key = public_key
    upload.processed_at = now
    openid = None
    if upload.owner_kind == "citizen":
        citizen = await session.get(Citizen, uuid.UUID(upload.owner_id))
        openid = citizen.openid if citizen else None
    if openid is None:  # staff evidence photos are not user content
        upload.check_status, upload.checked_at = "passed", now
        return upload
    url = context.storage.presign_get(public_key, expires=PUBLIC_URL_TTL)
    trace_id = await context.provider.check_media(url, openid=openid, scene=SCENE_FORUM)
    if trace_id is None:
        upload.check_status, upload.checked_at = "passed", now
    else:
        upload.check_status, upload.check_trace_id = "checking", trace_id
    await session.flush()
    return upload


@handler(PROCESS_TOPIC)
async def process_photo(session: AsyncSession, payload: dict[str, Any], message: OutboxMessage) -> None:
    await process(session, uuid.UUID(payload["upload_id"]), get_media_context())
