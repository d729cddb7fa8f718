"""POST /ingest/v1/telemetry — signed batches of readings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.ingest import Batch, BatchResult
from backend.devices.settings import get_ingest_settings
from device_ingest.dto import MsgspecBytesDTO
from device_ingest.schemas import TelemetryIn
from device_ingest.startup import ingestor_of


class BatchDTO(MsgspecBytesDTO[Batch]):
    doc_model = TelemetryIn


DESCRIPTION = """
A batch of readings of the signing device, signed with its secret:

    X-Device-Id: <device id>
    X-Timestamp: <Unix seconds, within ±300 s of the server clock>
    X-Nonce: <16–64 of A-Z a-z 0-9 _ -, never reused>
    X-Signature: hex(HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n" hex(SHA-256(body))))

Every reading gets a result at the same position in `results`: `accepted`, `duplicate` (its `seq`
was stored before — resending a batch is safe), or `rejected` with a `reason`. Out-of-order
sequence numbers are accepted. 401: signature missing, wrong, too old/new (`timestamp_skew`, with
`server_time`) or a replayed nonce; 403: device revoked; 413: body too large; 429: over the
device's rate limit (`retry_after_s`).
""".strip()


class TelemetryController(Controller):
    path = "/telemetry"
    tags = ["devices"]

    @post(
        "",
        summary="Post a signed batch of readings",
        description=DESCRIPTION,
        status_code=200,
        dto=BatchDTO,
        return_dto=None,
        request_max_body_size=get_ingest_settings().max_body_bytes,
    )
    async def telemetry(
        self, request: Request[Any, Any, Any], data: Batch, db_session: AsyncSession, state: State
    ) -> Response[BatchResult]:
        ingestor = ingestor_of(state)
        outcome = await ingestor.ingest(
            db_session,
            method=request.method,
            path=request.url.path,
            headers=request.headers,
            body=await request.body(),
            batch=data,
        )
        # The live state is written after the response (and so after the commit): a reading
        # becomes live only once it is stored.
        return Response(outcome.result, background=BackgroundTask(ingestor.publish_live, outcome.live))
