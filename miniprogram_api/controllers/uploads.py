"""Photo uploads: a presigned URL straight to object storage, then a confirmation with the EXIF location."""

from __future__ import annotations

from litestar import Controller, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.idempotency import IdempotencyKey
from backend.citizens.service import CitizenPrincipal
from backend.media import service as media
from miniprogram_api.controllers._common import SIGNED_IN, local, point
from miniprogram_api.schemas import ConfirmIn, ConfirmOut, Coord, UploadIn, UploadOut


class UploadController(Controller):
    path = "/uploads"
    tags = ["reports"]

    @post(
        "",
        summary="Get a presigned URL to upload one photo (JPEG, PNG or WebP) straight to storage",
        description="At most 9 photos go with a report; each is limited in size (`max_bytes`).",
        responses=SIGNED_IN,
    )
    async def create(
        self,
        citizen: CitizenPrincipal,
        data: UploadIn,
        db_session: AsyncSession,
        state: State,
        idempotency_key: IdempotencyKey = None,
    ) -> UploadOut:
        runtime = state.runtime
        issued = await media.issue_upload(
            db_session,
            runtime.storage,
            "citizen",
            str(citizen.citizen_id),
            data.content_type,
            max_bytes=runtime.settings.citizens.photo_max_bytes,
            method=data.method,
        )
        p = issued.presigned
        return UploadOut(
            key=p.key,
            method=p.method,
            url=p.url,
            headers=p.headers,
            fields=p.fields,
            content_type=p.content_type,
            max_bytes=p.max_bytes,
            expires_at=local(p.expires_at),
        )

    @post(
        "/confirm",
        summary="Confirm an uploaded photo; answers where its EXIF says it was taken",
        description=(
            "Checks the stored object's size and type (a broken upload is deleted: 400 upload_rejected) and reads "
            "the photo's GPS position, if any, as a location suggestion in the `coord` system. Reports confirm "
            "their photos themselves; calling this first is optional."
        ),
        status_code=200,
        responses=SIGNED_IN,
    )
    async def confirm(
        self,
        citizen: CitizenPrincipal,
        data: ConfirmIn,
        db_session: AsyncSession,
        state: State,
        coord: Coord = "gcj02",
        idempotency_key: IdempotencyKey = None,
    ) -> ConfirmOut:
        confirmed = await media.confirm(db_session, state.runtime.storage, "citizen", str(citizen.citizen_id), data.key)
        exif = confirmed.exif
        upload = confirmed.upload
        return ConfirmOut(
            key=upload.key,
            size_bytes=upload.size_bytes or 0,
            content_type=upload.content_type,
            location=point(exif.lat, exif.lng, coord) if exif.lat is not None and exif.lng is not None else None,
        )
