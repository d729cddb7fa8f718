"""Device ingest throughput: signed batches through HTTP vs a raw asyncpg COPY of the same rows.

Starts its own PostgreSQL, Valkey and S3 server (``backend/embedded.py``), migrates, registers
toilet sensors, then in one run:

1. the baseline — raw ``COPY`` (asyncpg ``copy_records_to_table``) of the same rows, in batches of
   the same size, over as many connections as the server has workers;
2. the real thing — the app served by granian (``--workers``, uvloop), driven from this process by
   an async HTTP client over ``--connections`` keep-alive connections: signed batches of
   ``--batch`` readings, for ``--seconds`` after a warm-up; every accepted reading is counted from
   the per-reading results;
3. live-state lag — while the load runs, a probe device posts one reading every half second and
   the time until ``backend.live.get_state`` shows it is measured.

It prints where the CPU went (PostgreSQL, the server workers, this client) and, last, one JSON
object with ``readings_per_s``, ``copy_rows_per_s``, ``ratio_vs_copy`` and ``live_state_lag_s``.

    .venv/bin/python bench/ingest.py [--seconds 20] [--workers 2] [--connections 8] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http1 import Http1  # noqa: E402  (the repository root is on the path only now)

PATH = "/ingest/v1/telemetry"
METRIC_VARIANTS = 32


def metric_blobs() -> list[str]:
    """Readings a toilet sensor sends: occupancy, odour under the limits, climate."""
    return [
        json.dumps(
            {
                "free_stalls": i % 12,
                "occupied_stalls": 12 - i % 12,
                "nh3": round(0.05 + (i % 7) * 0.02, 3),
                "h2s": 0.002,
                "temperature_c": 18.0 + i % 10,
                "humidity_pct": 50.0 + i % 20,
            },
            separators=(",", ":"),
        )
        for i in range(METRIC_VARIANTS)
    ]


@dataclass
class Device:
    id: str
    secret: str
    seq: int = 0


@dataclass
class Load:
    """What the client saw during the measured window."""

    started: float = 0.0
    ended: float = 0.0
    accepted: int = 0
    other: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)


class BatchMaker:
    def __init__(self, size: int) -> None:
        self.size = size
        self.blobs = metric_blobs()
        self.suffixes = [f".{i * 1000 // size:03d}{i % 1000:03d}+00:00" for i in range(size)]

    def body(self, device: Device) -> bytes:
        second = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        start = device.seq
        device.seq += self.size
        blobs, n = self.blobs, METRIC_VARIANTS
        head = f'{{"device_id":"{device.id}","seq":'
        parts = [
            f'{head}{start + i},"ts":"{second}{suffix}","metrics":{blobs[(start + i) % n]}}}'
            for i, suffix in enumerate(self.suffixes)
        ]
        return ('{"readings":[' + ",".join(parts) + "]}").encode()


def sign(device: Device, body: bytes) -> dict[str, str]:
    from backend.devices.signing import signed_headers

    return {"content-type": "application/json", **signed_headers(device.id, device.secret, "POST", PATH, body)}


class Summary(msgspec.Struct):
    accepted: int
    duplicate: int
    rejected: int


# --- set-up -------------------------------------------------------------------------------------------


async def register(settings: Any, n: int) -> list[Device]:
    from backend.db import create_engine, create_session_factory, transaction
    from backend.devices import service
    from backend.devices.settings import IngestSettings
    from backend.devices.startup import prepare

    engine = create_engine(settings)
    try:
        await prepare(engine, IngestSettings())
        devices = []
        async with transaction(create_session_factory(engine)) as session:
            for i in range(n):
                issued = await service.add_device(
                    session,
                    settings.app.secret_key,
                    code=f"BENCH-WC-{i:04d}",
                    name=f"bench toilet sensor {i}",
                    type_code="toilet_sensor",
                    object_kind="toilet",
                    object_id=f"BENCH-WC-{i:04d}",
                    interval_s=60,
                    attrs={"toilet_class": 2},
                )
                devices.append(Device(str(issued.device.id), issued.secret))
        return devices
    finally:
        await engine.dispose()


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def copy_baseline(dsn: str, batch: int, batches: int, connections: int) -> tuple[float, int]:
    """Raw COPY of rows shaped like the HTTP run's; returns (rows/s, rows)."""
    blobs = metric_blobs()
    now = datetime.now(UTC)
    device_ids = [uuid.uuid4() for _ in range(connections * 4)]
    work = [
        [
            (device_ids[b % len(device_ids)], now, b * batch + i, now, blobs[(b * batch + i) % METRIC_VARIANTS])
            for i in range(batch)
        ]
        for b in range(batches)
    ]
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    for conn in conns:  # the same jsonb codec the app's SQLAlchemy connections use (text → binary jsonb)
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda s: b"\x01" + s.encode(),
            decoder=lambda b: b[1:].decode(),
            schema="pg_catalog",
            format="binary",
        )
    queue = list(reversed(work))

    async def run(conn: asyncpg.Connection) -> None:
        while queue:
            records = queue.pop()
            await conn.copy_records_to_table(
                "device_readings", records=records, columns=["device_id", "ts", "seq", "received_at", "metrics"]
            )

    try:
        await conns[
            0
        ].copy_records_to_table(  # warm the introspection cache
            "device_readings", records=work[0][:1], columns=["device_id", "ts", "seq", "received_at", "metrics"]
        )
        started = time.perf_counter()
        await asyncio.gather(*(run(c) for c in conns))
        elapsed = time.perf_counter() - started
        await conns[0].execute("TRUNCATE device_readings")  # the HTTP run starts on an empty table too
    finally:
        for conn in conns:
            await conn.close()
    rows = batch * batches
    return rows / elapsed, rows


# --- the server ---------------------------------------------------------------------------------------


def start_server(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--workers", str(workers),
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "--backpressure", "64", "app.main:create_asgi",
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


async def wait_ready(base: str, server: subprocess.Popen[bytes], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


# --- the load -----------------------------------------------------------------------------------------


async def drive(
    port: int,
    devices: list[Device],
    probe: Device,
    redis_url: str,
    *,
    batch: int,
    connections: int,
    warmup: float,
    seconds: float,
) -> Load:
    from backend import live
    from backend.redis import create_redis

    maker = BatchMaker(batch)
    load = Load()
    next_device = 0
    t0 = time.perf_counter()
    window = (t0 + warmup, t0 + warmup + seconds)
    summary = msgspec.json.Decoder(Summary)

    async def worker() -> None:
        nonlocal next_device
        conn = Http1("127.0.0.1", port)
        try:
            while time.perf_counter() < window[1]:
                device = devices[next_device % len(devices)]
                next_device += 1
                body = maker.body(device)
                sent = time.perf_counter()
                status, data = await conn.post(PATH, body, sign(device, body))
                done = time.perf_counter()
                if not (window[0] <= sent and done <= window[1]):
                    continue
                load.requests += 1
                load.latencies.append(done - sent)
                if status == 200:
                    result = summary.decode(data)
                    load.accepted += result.accepted
                    load.other += result.duplicate + result.rejected
                else:
                    load.errors[str(status)] = load.errors.get(str(status), 0) + 1
        finally:
            await conn.close()

    async def prober() -> None:
        """One reading every half second from a device of its own, on a connection of its own:
        how long until a reader of the live state sees it."""
        redis = create_redis(redis_url)
        conn = Http1("127.0.0.1", port)
        try:
            await asyncio.sleep(warmup)
            while time.perf_counter() < window[1] - 1.5:
                probe.seq += 1
                marker = probe.seq
                reading = {"device_id": probe.id, "seq": marker, "ts": datetime.now(UTC).isoformat()}
                body = msgspec.json.encode({"readings": [{**reading, "metrics": {"people_in": marker}}]})
                sent = time.perf_counter()
                posting = asyncio.create_task(conn.post(PATH, body, sign(probe, body)))
                while True:
                    state = await live.get_state(redis, "toilet", "BENCH-PROBE")
                    if state is not None and state.values().get("people_in") == marker:
                        load.lags.append(time.perf_counter() - sent)
                        break
                    if time.perf_counter() - sent > 10:
                        load.lags.append(float("inf"))
                        break
                    await asyncio.sleep(0.002)
                await posting
                await asyncio.sleep(0.5)
        finally:
            await conn.close()
            await redis.aclose()

    await asyncio.gather(*(worker() for _ in range(connections)), prober())
    load.started, load.ended = window
    return load


def cpu_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    found = {}
    for p in processes:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            found[p.pid] = times.user + times.system
    return found


def family(pid: int | None) -> list[psutil.Process]:
    """A process and all its descendants (our postmaster and its backends; our Valkey)."""
    if pid is None:
        return []
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    return []


def postmaster_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    return None


def busy_cores() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


class CpuMeter:
    """CPU seconds of our PostgreSQL, Valkey, the server and this client — and of everything else
    on the machine (other people's processes share these cores and skew every figure)."""

    def __init__(self, server_pid: int, postmaster: int | None, valkey: int | None) -> None:
        self.pids = {"postgres": postmaster, "valkey": valkey, "server": server_pid}
        self.before = self._sample()

    def _sample(self) -> tuple[dict[str, dict[int, float]], float, float, float]:
        return (
            {name: cpu_by_pid(family(pid)) for name, pid in self.pids.items()},
            sum(psutil.Process().cpu_times()[:2]),
            busy_cores(),
            time.perf_counter(),
        )

    def cores(self) -> dict[str, float]:
        groups0, me0, busy0, t0 = self.before
        groups1, me1, busy1, t1 = self._sample()
        wall = t1 - t0
        cores = {
            name: sum(v - groups0[name].get(pid, 0.0) for pid, v in groups1[name].items()) / wall for name in groups1
        }
        cores["client"] = (me1 - me0) / wall
        busy = (busy1 - busy0) / wall
        cores["other"] = max(busy - sum(cores.values()), 0.0)
        return cores


# --- main ---------------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, env: dict[str, str], settings: Any, services: Any) -> dict[str, Any]:
    from backend.embedded import free_port

    devices = await register(settings, args.devices + 1)
    probe = devices.pop()
    await _rename_probe(settings, probe)
    dsn = pg_dsn(settings.db.url)
    copy_rate, copy_rows = await copy_baseline(dsn, args.batch, args.copy_batches, args.workers)
    print(f"raw COPY: {copy_rows:,} rows over {args.workers} connections: {copy_rate:,.0f} rows/s", flush=True)

    port = free_port()
    server = start_server(port, args.workers, env)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", server)
        valkey = services.valkey.process.pid if services.valkey and services.valkey.process else None
        meter = CpuMeter(server.pid, postmaster_pid(services.postgres.data_dir), valkey)
        load = await drive(
            port,
            devices,
            probe,
            settings.redis.url,
            batch=args.batch,
            connections=args.connections,
            warmup=args.warmup,
            seconds=args.seconds,
        )
        cores = meter.cores()
    finally:
        stop_server(server)

    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM device_readings")
    finally:
        await conn.close()

    seconds = load.ended - load.started
    rate = load.accepted / seconds
    lat = sorted(load.latencies)
    lags = sorted(load.lags)
    figures = {
        "readings_per_s": round(rate),
        "copy_rows_per_s": round(copy_rate),
        "ratio_vs_copy": round(rate / copy_rate, 3),
        "live_state_lag_s": round(max(lags), 3) if lags else None,
        "live_state_lag_p50_s": round(statistics.median(lags), 3) if lags else None,
        "batch": args.batch,
        "workers": args.workers,
        "connections": args.connections,
        "seconds": round(seconds, 1),
        "requests": load.requests,
        "non_accepted_readings": load.other,
        "http_errors": load.errors,
        "stored_rows": stored,
        "request_p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
        "request_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1) if lat else None,
        "cpu_cores_postgres": round(cores["postgres"], 2),
        "cpu_cores_server": round(cores["server"], 2),
        "cpu_cores_client": round(cores["client"], 2),
        "cpu_cores_valkey": round(cores["valkey"], 2),
        "cpu_cores_other_processes": round(cores["other"], 2),
        "cpu_count": psutil.cpu_count(),
    }
    print(
        f"HTTP ingest: {load.accepted:,} readings accepted in {seconds:.1f} s over {args.connections} connections "
        f"to {args.workers} granian workers: {rate:,.0f} readings/s ({rate / copy_rate:.2f}× raw COPY)"
    )
    print(
        f"requests: {load.requests} (p50 {figures['request_p50_ms']} ms, p99 {figures['request_p99_ms']} ms), "
        f"errors {load.errors or 'none'}; rows stored {stored:,}"
    )
    print(
        f"live state visible after {figures['live_state_lag_p50_s']} s (p50), {figures['live_state_lag_s']} s (max) "
        f"over {len(lags)} probes"
    )
    print(
        f"CPU (cores busy, of {psutil.cpu_count()}): PostgreSQL {cores['postgres']:.2f}, "
        f"server (granian + workers) {cores['server']:.2f}, Valkey {cores['valkey']:.2f}, "
        f"this client {cores['client']:.2f}, other processes on the machine {cores['other']:.2f}"
    )
    per_k = 1000 / rate if rate else 0.0
    print(
        f"CPU per 1,000 readings: PostgreSQL {cores['postgres'] * per_k * 1000:.1f} ms, "
        f"server {cores['server'] * per_k * 1000:.1f} ms, client {cores['client'] * per_k * 1000:.1f} ms"
    )
    return figures


async def _rename_probe(settings: Any, probe: Device) -> None:
    """The probe device watches its own toilet, so the load never overwrites what it looks for."""
    from sqlalchemy import update

    from backend.db import create_engine, create_session_factory, transaction
    from backend.models import Device as DeviceRow

    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await session.execute(
                update(DeviceRow).where(DeviceRow.id == uuid.UUID(probe.id)).values(object_id="BENCH-PROBE")
            )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window of the HTTP run")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--connections", type=int, default=8, help="client keep-alive connections")
    parser.add_argument("--batch", type=int, default=1000, help="readings per signed batch")
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--copy-batches", type=int, default=300, help="batches in the raw COPY baseline")
    args = parser.parse_args()

    from backend.embedded import EmbeddedServices, free_port
    from backend.settings import get_settings, reset_settings_cache

    data = ROOT / ".data" / f"bench-ingest-{os.getpid()}"
    services = EmbeddedServices(data, pg_port=free_port(), redis_port=free_port(), s3_port=free_port())
    started = time.perf_counter()
    print("starting embedded PostgreSQL, Valkey and S3 …", flush=True)
    env_services = services.start()
    try:
        env = {
            **os.environ,
            **env_services,
            "CHENGGUAN_ENV": "development",
            "LOG_LEVEL": "warning",
            "LOG_JSON": "true",
            "DATABASE_POOL_SIZE": "8",
            "INGEST_RATE_PER_MIN": "100000",
            "CHENGGUAN_DATA_DIR": str(data),
        }
        os.environ.update(env)
        reset_settings_cache()
        settings = get_settings()
        from backend.cli import run_migrations

        assert settings.db.url is not None
        run_migrations(settings.db.url)
        figures = asyncio.run(measure(args, env, settings, services))
    finally:
        services.remove_data()
    figures["total_run_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
