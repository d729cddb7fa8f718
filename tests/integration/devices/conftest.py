"""Devices for ingest tests, and a client that signs its batches like device firmware does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.db import create_session_factory, transaction
from backend.devices import service
from backend.devices.signing import signed_headers
from backend.models import Alarm, Device, OutboxMessage

PATH = "/ingest/v1/telemetry"


def assert_error_body(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error body, with ``code``; returns its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


@dataclass
class Sender:
    """Posts signed batches as one device."""

    client: httpx.AsyncClient
    device_id: str
    secret: str

    def reading(self, seq: int, ts: datetime | None = None, **metrics: Any) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "seq": seq,
            "ts": (ts or datetime.now(UTC)).isoformat(),
            "metrics": metrics,
        }

    async def post(
        self,
        readings: list[dict[str, Any]] | None = None,
        *,
        body: bytes | None = None,
        firmware: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if body is None:
            payload: dict[str, Any] = {"readings": readings or []}
            if firmware:
                payload["firmware"] = firmware
            body = msgspec.json.encode(payload)
        signed = signed_headers(
            self.device_id, secret or self.secret, "POST", PATH, body, timestamp=timestamp, nonce=nonce
        )
        return await self.client.post(
            PATH, content=body, headers={"content-type": "application/json", **signed, **(headers or {})}
        )


MakeDevice = Callable[..., Awaitable[tuple[Device, str]]]


@pytest.fixture
def make_device(db: AsyncSession, settings: Any) -> MakeDevice:
    """Register a device inside the test's rolled-back transaction; returns it and its secret."""

    async def make(
        type_code: str = "toilet_sensor", object_kind: str | None = None, **kwargs: Any
    ) -> tuple[Device, str]:
        device_type = await service.get_device_type(db, type_code)
        code = kwargs.pop("code", f"T-{uuid.uuid4().hex[:12]}")
        issued = await service.add_device(
            db,
            settings.app.secret_key,
            code=code,
            name=kwargs.pop("name", code),
            type_code=type_code,
            object_kind=object_kind or device_type.object_kinds[0],
            object_id=kwargs.pop("object_id", f"OBJ-{code}"),
            lat=kwargs.pop("lat", 30.8421),
            lng=kwargs.pop("lng", 114.8012),
            **kwargs,
        )
        return issued.device, issued.secret

    return make


@pytest.fixture
def sender(client: httpx.AsyncClient) -> Callable[[Device, str], Sender]:
    return lambda device, secret: Sender(client, str(device.id), secret)


async def remove_devices(engine: AsyncEngine, device_ids: list[uuid.UUID]) -> None:
    """Delete what tests with real commits wrote for these devices."""
    async with transaction(create_session_factory(engine)) as s:
        alarm_ids = [
            str(a)
            for a in (
                await s.scalars(
                    Alarm.__table__.select().with_only_columns(Alarm.id).where(Alarm.device_id.in_(device_ids))
                )
            ).all()
        ]
        for alarm_id in alarm_ids:
            await s.execute(delete(OutboxMessage).where(OutboxMessage.payload["alarm_id"].astext == alarm_id))
        await s.execute(delete(Alarm).where(Alarm.device_id.in_(device_ids)))
        await s.execute(text("DELETE FROM device_readings WHERE device_id = ANY(:ids)"), {"ids": device_ids})
        await s.execute(delete(Device).where(Device.id.in_(device_ids)))


@pytest.fixture
async def committed_device(engine: AsyncEngine, settings: Any, seeded: bool) -> AsyncIterator[MakeDevice]:
    """Register devices with a real commit (for tests over several connections); removed afterwards."""
    made: list[uuid.UUID] = []

    async def make(
        type_code: str = "toilet_sensor", object_kind: str | None = None, **kwargs: Any
    ) -> tuple[Device, str]:
        async with transaction(create_session_factory(engine)) as s:
            device_type = await service.get_device_type(s, type_code)
            code = f"C-{uuid.uuid4().hex[:12]}"
            issued = await service.add_device(
                s,
                settings.app.secret_key,
                code=code,
                name=code,
                type_code=type_code,
                object_kind=object_kind or device_type.object_kinds[0],
                object_id=f"OBJ-{code}",
                lat=30.84,
                lng=114.80,
                **kwargs,
            )
        made.append(issued.device.id)
        return issued.device, issued.secret

    yield make
    await remove_devices(engine, made)
