"""Wire types of the device ingest API (/ingest/v1).

The batch is decoded into ``backend.devices.ingest.Batch`` (metrics kept raw until checked against
the device type); ``TelemetryIn`` is the same shape for the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from backend.devices.ingest import MAX_SEQ, BatchResult, ReadingResult

__all__ = ["BatchResult", "ReadingIn", "ReadingResult", "TelemetryIn"]


class ReadingIn(msgspec.Struct, forbid_unknown_fields=True):
    device_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, description="The signing device's id (X-Device-Id)")
    ]
    seq: Annotated[
        int,
        msgspec.Meta(ge=0, le=MAX_SEQ, description="The device's sequence number: repeats are duplicates"),
    ]
    ts: Annotated[datetime, msgspec.Meta(tz=True, description="When it was measured (RFC 3339 with offset)")]
    metrics: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Metric name → value, as the device type's metric schema says"),
    ]


class TelemetryIn(msgspec.Struct, forbid_unknown_fields=True):
    readings: Annotated[list[ReadingIn], msgspec.Meta(min_length=1, max_length=100_000)]
    firmware: Annotated[str, msgspec.Meta(min_length=1, max_length=60, description="Firmware version")] | None = None
