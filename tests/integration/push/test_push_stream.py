"""Live delivery: a field client connected to the app (served by uvicorn on a loopback port) receives a
new task on its Server-Sent Event stream within a second of the commit that promised it — through the
outbox, the relay, an arq worker, Redis pub/sub and the API process's subscription. The console's alert
stream works the same way; a reconnect with Last-Event-ID replays what was missed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import create_session_factory, transaction
from backend.embedded import free_port
from backend.models import Notification, OutboxMessage, Staff
from push import Recipient, events, notify

STREAM = "/api/field/v1/inbox/stream"


@pytest.fixture(scope="module")
def live_server(settings: Any, seeded: bool) -> Iterator[str]:
    """The served application (API + admin) under uvicorn, in a thread with its own event loop."""
    from app.main import create_asgi

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_asgi(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-live", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
async def worker(settings: Any, dev_providers: Any) -> AsyncIterator[Any]:
    """A real arq worker (the project's WorkerSettings) polling the queue every 20 ms."""
    from arq.worker import Worker

    from backend.redis import arq_settings
    from backend.worker import WorkerSettings

    w = Worker(
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=arq_settings(settings.redis.url),
        poll_delay=0.02,
        handle_signals=False,
    )
    task = asyncio.create_task(w.async_run())
    for _ in range(500):  # started: its on_startup has built the runtime it carries jobs out with
        if "runtime" in w.ctx:
            break
        await asyncio.sleep(0.01)
    yield w
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await w.close()


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit (the worker and the server must see the rows); cleaned up after."""
    factory = create_session_factory(engine)
    yield factory
    async with transaction(factory) as session:
        ids = (await session.scalars(select(Notification.id).where(Notification.dedup_key.like("stream-test:%")))).all()
        await session.execute(delete(OutboxMessage).where(OutboxMessage.topic.like("push.%")))
        await session.execute(delete(Notification).where(Notification.id.in_(ids)))


async def _token(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await http.post("/api/field/v1/auth/login", json={"username": username, "password": "Demo@2026"})
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, str | None, Any]]:
    """(event, id, data) for each Server-Sent Event; comments (keepalives) are skipped."""
    name, event_id, data = "message", None, list[str]()
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield name, event_id, json.loads("\n".join(data))
            name, event_id, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "id":
                event_id = value
            elif field == "data":
                data.append(value)


async def _staff_id(factory: async_sessionmaker[AsyncSession], username: str) -> uuid.UUID:
    async with factory() as session:
        staff_id = await session.scalar(select(Staff.id).where(Staff.username == username))
    assert staff_id is not None
    return staff_id


async def _assign(factory: async_sessionmaker[AsyncSession], staff_id: uuid.UUID, case_no: str) -> None:
    async with transaction(factory) as session:
        await notify(session, events.TASK_ASSIGNED, [Recipient.staff(staff_id)], {"case_no": case_no},
                     f"stream-test:{case_no}", urgent=True)  # fmt: skip


async def test_an_online_field_client_receives_a_new_task_within_a_second(
    live_server: str, worker: Any, committed: async_sessionmaker[AsyncSession]
) -> None:
    collector = await _staff_id(committed, "collector1")
    latencies = []
    async with httpx.AsyncClient(base_url=live_server, timeout=httpx.Timeout(10, read=5)) as http:
        headers = await _token(http, "collector1")
        async with http.stream("GET", STREAM, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = _events(response)
            name, _, ready = await anext(stream)
            assert name == "ready" and "unread_count" in ready
            for n in range(5):
                case_no = f"XZ-LIVE-{uuid.uuid4().hex[:6]}-{n}"
                started = time.perf_counter()
                await _assign(committed, collector, case_no)
                name, event_id, item = await asyncio.wait_for(anext(stream), timeout=5)
                latencies.append(time.perf_counter() - started)
                assert name == "inbox" and item["title"] == f"新任务：{case_no}" and event_id == item["id"]
                assert item["unread_count"] >= 1 and item["urgent"] is True
    print(
        f"\nstream latency commit→SSE over {len(latencies)} tasks: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < 1.0, latencies


async def test_a_reconnecting_client_gets_what_it_missed_and_read_marks_from_other_devices(
    live_server: str, worker: Any, committed: async_sessionmaker[AsyncSession]
) -> None:
    handler = await _staff_id(committed, "handler1")
    async with httpx.AsyncClient(base_url=live_server, timeout=httpx.Timeout(10, read=5)) as http:
        headers = await _token(http, "handler1")
        async with http.stream("GET", STREAM, headers=headers) as response:
            stream = _events(response)
            await anext(stream)
            await _assign(committed, handler, "XZ-MISS-0")
            _, first_id, _ = await asyncio.wait_for(anext(stream), timeout=5)
        # Offline: two more tasks arrive.
        for n in (1, 2):
            await _assign(committed, handler, f"XZ-MISS-{n}")
        for _ in range(100):
            page = (await http.get("/api/field/v1/inbox", params={"limit": 3}, headers=headers)).json()
            if page["items"][0]["title"] == "新任务：XZ-MISS-2":
                break
            await asyncio.sleep(0.05)
        async with http.stream("GET", STREAM, headers={**headers, "Last-Event-ID": first_id or ""}) as response:
            stream = _events(response)
            assert (await anext(stream))[0] == "ready"
            missed = [await asyncio.wait_for(anext(stream), timeout=5) for _ in range(2)]
            assert [m[2]["title"] for m in missed] == ["新任务：XZ-MISS-1", "新任务：XZ-MISS-2"]
            # Read on another device: this one hears of it.
            read = await http.post(f"/api/field/v1/inbox/{missed[0][1]}/read", headers=headers)
            assert read.status_code == 200
            name, _, data = await asyncio.wait_for(anext(stream), timeout=5)
            assert name == "read" and data["ids"] == [missed[0][1]]


async def test_the_console_alert_stream_carries_device_alarms(
    live_server: str, worker: Any, committed: async_sessionmaker[AsyncSession]
) -> None:
    lead = await _staff_id(committed, "lead1")
    async with httpx.AsyncClient(base_url=live_server, timeout=httpx.Timeout(10, read=5)) as http:
        login = await http.post("/admin/login", data={"username": "lead1", "password": "Demo@2026"})
        assert login.status_code in (302, 303), login.text
        async with http.stream("GET", "/admin/alerts/stream") as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            stream = _events(response)
            assert (await anext(stream))[0] == "ready"
            async with transaction(committed) as session:
                data = {
                    "device_name": "燃气报警器 GX-12",
                    "alarm": "燃气泄漏",
                    "level": "严重",
                    "place": "（邾城街道）",
                }
                await notify(session, events.DEVICE_ALARM, [Recipient.staff(lead)], data, "stream-test:alarm-1")
            name, _, alert = await asyncio.wait_for(anext(stream), timeout=5)
            assert name == "alert" and alert["title"] == "严重告警：燃气报警器 GX-12"
            assert alert["body"] == "燃气报警器 GX-12（邾城街道）发生燃气泄漏（严重），请及时处置。"
    async with httpx.AsyncClient(base_url=live_server) as anonymous:
        response = await anonymous.get("/admin/alerts/stream")
        assert response.status_code in (302, 303)
