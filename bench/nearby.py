"""Nearby toilets with live status (DESIGN §11): our endpoint vs a bare endpoint doing the same single
Redis ``GEOSEARCH``, and vs an equivalent FastAPI + pydantic endpoint.

Starts its own PostgreSQL, Valkey and S3 server in a temporary folder under ``.data/``, migrates,
puts ``--toilets`` toilets in a 6 km disc (about 45 per km², a dense old town), writes a live state
for each (occupancy, odour, climate, open — what the toilet sensors report), builds the nearby index,
then serves, one after the other, each on 127.0.0.1 under granian (uvloop, ``--workers`` each):

1. **bare** — a Litestar app whose one handler runs the same ``GEOSEARCH`` (radius, ascending) our
   search runs and returns the ids: the floor of any nearby endpoint (``ratio_vs_bare``);
   **bare_app** — the same handler added to the real application, behind every middleware
   (``ratio_vs_bare_same_app``: what our endpoint's own work costs, framework and middleware equal);
2. **ours** — the real application (every middleware, the mini-program router) at
   ``GET /api/mp/v1/toilets/nearby`` with GCJ-02 in and out: the search, live status of each toilet,
   odour verdicts, walking estimates; each toilet's JSON encoded once by msgspec while it stays the same;
3. **fastapi** — FastAPI + pydantic v2 around the same service call (``backend.toilets.service.nearby``),
   with the same fields as pydantic models (``response_model``) and the query validated by FastAPI.

Load comes from another process (``--client`` mode of this script): a minimal keep-alive HTTP/1.1
client on uvloop over ``--connections`` connections, closed loop, each request a different point of
a fixed list within 3 km of the centre (the same list for every server), for ``--seconds`` after
``--warmup``. The ratios compare the three saturated throughputs. Latency: p99 of the saturated run
(closed loop at 64 connections: latency there is connections ÷ throughput, so it measures the
machine as much as the code), and p99 at a fixed offered load (``--rate`` requests/s, by default half
the saturated throughput, spread over the same 64 connections, latency counted from each request's
scheduled time) — ``p99_ms`` is the latter.

It prints where the CPU went — the server's CPU per request too, and the ratios by it
(``ratio_vs_*_by_cpu``), which hold better than throughput when other work shares the two cores — and
the last line of stdout is one JSON object with ``rps``, ``p99_ms``, ``ratio_vs_bare`` and
``ratio_vs_fastapi``.

    .venv/bin/python bench/nearby.py [--seconds 10] [--connections 64] [--workers 1] [--rate 0]

FastAPI, pydantic and uvicorn are in the optional ``bench`` extra
(``uv pip install --python .venv/bin/python fastapi pydantic uvicorn``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http1 import Http1  # noqa: E402  (the repository root is on the path only now)

CENTRE = (30.58, 114.29)  # WGS-84
DISC_M = 6000.0
QUERY_DISC_M = 3000.0
QUERIES = 512


# --- the servers under test (factories granian imports in its workers) --------------------------------


def bare_factory() -> Any:
    """The floor: the same GEOSEARCH our search runs, ids out."""
    from litestar import Litestar, get

    from backend.redis import create_redis
    from backend.toilets.service import INDEX, SEARCH_SPARE

    redis = create_redis(os.environ["REDIS_URL"])
    key = INDEX.geo_key

    @get("/bare/nearby")
    async def bare_nearby(lat: float, lng: float, radius_m: int = 500, limit: int = 20) -> list[str]:
        ids = await redis.geosearch(key, **INDEX.geosearch_args(lat, lng, radius_m, limit + SEARCH_SPARE))
        return [i.decode() for i in ids]

    return Litestar([bare_nearby], openapi_config=None)


def bare_in_app_factory() -> Any:
    """The same GEOSEARCH as ``bare_factory``, in the real application (every middleware): what our
    endpoint adds over the call itself, the framework and middleware held equal."""
    from litestar import get
    from litestar.datastructures import State

    from app.main import create_asgi
    from backend.toilets.service import INDEX, SEARCH_SPARE

    asgi = create_asgi()
    key = INDEX.geo_key

    @get("/bare/nearby")
    async def bare_nearby(state: State, lat: float, lng: float, radius_m: int = 500, limit: int = 20) -> list[str]:
        args = INDEX.geosearch_args(lat, lng, radius_m, limit + SEARCH_SPARE)
        ids = await state.runtime.redis.geosearch(key, **args)
        return [i.decode() for i in ids]

    asgi.litestar.register(bare_nearby)  # type: ignore[attr-defined]
    return asgi


def fastapi_factory() -> Any:
    """The same service call behind FastAPI + pydantic (models mirror ``miniprogram_api/places_schemas``)."""
    from contextlib import asynccontextmanager
    from typing import Literal

    from fastapi import FastAPI, Query
    from pydantic import BaseModel

    from backend.db import create_engine, create_session_factory
    from backend.geo import CoordSystem, to_wgs84
    from backend.places.rules import WEEKDAYS  # noqa: F401  (same imports as the real controller)
    from backend.redis import create_redis
    from backend.settings import get_settings
    from backend.toilets import service as toilets
    from backend.toilets.rules import ToiletFilters
    from miniprogram_api.controllers.places_out import position
    from miniprogram_api.places_schemas import WALKING_NOTE

    class OdourModel(BaseModel):
        nh3_mg_m3: float | None
        nh3_limit_mg_m3: float
        nh3_ok: bool | None
        h2s_mg_m3: float | None
        h2s_limit_mg_m3: float
        h2s_ok: bool | None
        ok: bool | None

    class LiveModel(BaseModel):
        live: bool
        reported: bool
        updated_at: datetime | None
        stale_since: datetime | None
        stale_metrics: list[str]
        free_stalls: int | None
        occupied_stalls: int | None
        people_in: int | None
        people_per_hour: int | None
        odour: OdourModel
        temperature_c: float | None
        humidity_pct: float | None
        open: bool | None

    class ToiletModel(BaseModel):
        id: str
        code: str
        name: str
        address: str
        lat: float
        lng: float
        coord: Literal["gcj02", "wgs84"]
        level: int
        level_name: str
        open_now: bool
        hours_text: str
        free: bool
        fee_amount_fen: int
        male_stalls: int
        female_stalls: int
        accessible: bool
        accessible_stalls: int
        third_toilet: bool
        baby_care: bool
        distance_m: int
        walking_m: int
        walking_min: int
        live: LiveModel

    class ToiletListModel(BaseModel):
        items: list[ToiletModel]
        source: Literal["redis", "database"]
        live_available: bool
        walking_note: str

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        settings = get_settings()
        engine = create_engine(settings)
        state["sessions"] = create_session_factory(engine)
        state["redis"] = create_redis(os.environ["REDIS_URL"])
        yield
        await state["redis"].aclose()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/mp/v1/toilets/nearby", response_model=ToiletListModel)
    async def nearby(
        lat: float = Query(ge=-90, le=90),
        lng: float = Query(ge=-180, le=180),
        coord: Literal["gcj02", "wgs84"] = "gcj02",
        radius_m: int = Query(1000, ge=1, le=5000),
        limit: int = Query(20, ge=1, le=50),
        open_now: bool = False,
        has_free_stall: bool = False,
        accessible: bool = False,
        baby_care: bool = False,
        third_toilet: bool = False,
        level: int | None = Query(None, ge=1, le=3),
    ) -> Any:
        wgs = to_wgs84(lat, lng, CoordSystem(coord))
        filters = ToiletFilters(open_now, has_free_stall, accessible, baby_care, third_toilet,
                                frozenset({level}) if level else frozenset())  # fmt: skip
        async with state["sessions"]() as session:
            found = await toilets.nearby(
                session, state["redis"], wgs.lat, wgs.lng, radius_m=radius_m, limit=limit, filters=filters
            )
        items = []
        for hit in found.items:
            t, s, o = hit.toilet, hit.live, hit.live.odour
            out_lat, out_lng = position(t.lat, t.lng, coord)
            items.append(
                ToiletModel(
                    id=t.id, code=t.code, name=t.name, address=t.address, lat=out_lat, lng=out_lng, coord=coord,
                    level=int(t.level), level_name=t.level.label, open_now=hit.open_now, hours_text=t.hours.describe(),
                    free=t.free, fee_amount_fen=t.fee_fen, male_stalls=t.male_stalls, female_stalls=t.female_stalls,
                    accessible=t.accessible_stalls > 0, accessible_stalls=t.accessible_stalls,
                    third_toilet=t.third_toilet, baby_care=t.baby_care, distance_m=round(hit.distance_m),
                    walking_m=hit.walk.metres, walking_min=hit.walk.minutes,
                    live=LiveModel(
                        live=s.live, reported=s.reported, updated_at=s.updated_at, stale_since=s.stale_since,
                        stale_metrics=list(s.stale_metrics), free_stalls=s.free_stalls,
                        occupied_stalls=s.occupied_stalls, people_in=s.people_in, people_per_hour=s.people_per_hour,
                        odour=OdourModel(
                            nh3_mg_m3=o.nh3, nh3_limit_mg_m3=o.nh3_limit, nh3_ok=o.nh3_ok, h2s_mg_m3=o.h2s,
                            h2s_limit_mg_m3=o.h2s_limit, h2s_ok=o.h2s_ok, ok=o.ok,
                        ),
                        temperature_c=s.temperature_c, humidity_pct=s.humidity_pct, open=s.open,
                    ),
                )
            )  # fmt: skip
        return ToiletListModel(
            items=items,
            source=found.source,  # type: ignore[arg-type]
            live_available=found.live_available,
            walking_note=WALKING_NOTE,
        )

    return app


# --- the load (runs in its own process) -----------------------------------------------------------------


async def _load(
    port: int, targets: list[bytes], connections: int, warmup: float, seconds: float, rate: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    count = 0
    total = 0
    t0 = time.perf_counter()
    start, end = t0 + warmup, t0 + warmup + seconds
    interval = connections / rate if rate else 0.0

    async def worker(n: int) -> None:
        nonlocal count, total
        conn = Http1("127.0.0.1", port)
        i = n * 7919
        scheduled = t0 + (interval * n / connections if interval else 0.0)
        try:
            while True:
                if interval:
                    scheduled += interval
                    delay = scheduled - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                sent = scheduled if interval else time.perf_counter()
                if sent >= end:
                    return
                target = targets[i % len(targets)]
                i += 1
                try:
                    status, _ = await conn.get(target)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    await conn.close()
                    conn = Http1("127.0.0.1", port)
                    continue
                done = time.perf_counter()
                total += 1
                if sent >= start and done <= end:
                    count += 1
                    latencies.append(done - sent)
                    if status != 200:
                        errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker(n) for n in range(connections)))
    latencies.sort()
    return {
        "requests": count,
        "all_requests": total,
        "rps": count / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)] * 1000 if latencies else None,
        "errors": errors,
    }


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    targets = [line.encode() for line in Path(args.targets).read_text().splitlines() if line]
    result = uvloop.run(_load(args.port, targets, args.connections, args.warmup, args.seconds, args.rate))
    print(json.dumps(result))


# --- set-up ---------------------------------------------------------------------------------------------


def points(rng: random.Random, n: int, radius_m: float) -> list[tuple[float, float]]:
    from backend.geo import destination_point

    out = []
    for _ in range(n):
        p = destination_point(*CENTRE, rng.uniform(0, 360), radius_m * math.sqrt(rng.random()))
        out.append((p.lat, p.lng))
    return out


async def populate(settings: Any, n: int) -> None:
    """``n`` toilets in a 6 km disc, their live state, the nearby index."""
    from sqlalchemy import insert

    from backend.db import create_engine, create_session_factory, transaction
    from backend.models import Toilet, new_id
    from backend.places.rules import OpeningHours
    from backend.redis import create_redis
    from backend.toilets.service import INDEX

    rng = random.Random(20261121)
    hours = [OpeningHours.parse_text(t).to_json() for t in ("24h", "daily 06:00-22:00", "daily 22:00-06:00")]
    rows = []
    for i, (lat, lng) in enumerate(points(rng, n, DISC_M)):
        level = rng.choice([1, 2, 2, 3])
        rows.append(
            {
                "id": new_id(), "code": f"BN-{i:05d}", "name": f"基准公厕{i}号", "address": f"测试路{i}号",
                "lat": lat, "lng": lng, "level": level, "opening_hours": rng.choice(hours), "free": True, "fee_fen": 0,
                "male_stalls": 4, "female_stalls": 6, "accessible_stalls": int(level < 3), "third_toilet": level == 1,
                "baby_care": level == 1, "note": "",
            }
        )  # fmt: skip
    engine = create_engine(settings)
    redis = create_redis(settings.redis.url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            for chunk in range(0, len(rows), 1000):
                await session.execute(insert(Toilet), rows[chunk : chunk + 1000])
        for row in rows:
            await write_reading(redis, rng, str(row["code"]))
        async with create_session_factory(engine)() as session:
            await INDEX.rebuild(session, redis)
    finally:
        await redis.aclose()
        await engine.dispose()


async def write_reading(redis: Any, rng: random.Random, code: str) -> None:
    """One toilet's sensors report (as device ingest writes it after commit)."""
    from backend import live
    from backend.live import MetricUpdate

    now = datetime.now(UTC)
    values = {
        "free_stalls": rng.randint(0, 10), "occupied_stalls": rng.randint(0, 10), "people_in": rng.randint(0, 30),
        "nh3": round(rng.uniform(0.05, 1.5), 3), "h2s": round(rng.uniform(0.001, 0.02), 4),
        "temperature_c": round(rng.uniform(10, 30), 1), "humidity_pct": round(rng.uniform(40, 90), 1),
        "open": True, "battery_pct": 90,
    }  # fmt: skip
    # A 10-minute interval keeps the readings fresh (not stale) for the 30 minutes a run may take.
    await live.write(redis, "toilet", code, [MetricUpdate(k, v, now, "bench", 600) for k, v in values.items()])


class DeviceWriter:
    """While a server is measured, every toilet reports again once per ``period_s`` (spread evenly), as
    their sensors do — so a server that keeps live states in memory pays for the changes it hears."""

    def __init__(self, redis_url: str, codes: list[str], period_s: float) -> None:
        self.redis_url, self.codes, self.period_s = redis_url, codes, period_s
        self.writes = 0
        self.elapsed_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> DeviceWriter:
        if self.period_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    @property
    def per_s(self) -> float:
        return self.writes / self.elapsed_s if self.elapsed_s else 0.0

    async def _run(self) -> None:
        from backend.redis import create_redis

        redis = create_redis(self.redis_url)
        rng = random.Random(11)
        rate = len(self.codes) / self.period_s
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - started) * rate)
                while self.writes < due:
                    await write_reading(redis, rng, self.codes[self.writes % len(self.codes)])
                    self.writes += 1
                await asyncio.sleep(0.01)
        finally:
            self.elapsed_s = time.monotonic() - started
            await redis.aclose()


def start_server(kind: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    target = {
        "ours": "app.main:create_asgi",
        "bare": "bench.nearby:bare_factory",
        "bare_app": "bench.nearby:bare_in_app_factory",
        "fastapi": "bench.nearby:fastapi_factory",
    }
    cmd = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--workers", str(workers),
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "--backpressure", "128", target[kind],
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, start_new_session=True)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


def wait_ready(port: int, probe: str, server: subprocess.Popen[bytes], within_s: float = 60) -> bytes:
    import httpx

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=5)
            if response.status_code == 200:
                return response.content
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def cpu_of(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
    return total


def run_load(port: int, targets_file: Path, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--client", "--port", str(port), "--targets", str(targets_file),
        "--connections", str(args.connections), "--warmup", str(args.warmup), "--seconds", str(args.seconds),
        "--rate", str(rate),
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.warmup + args.seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"the load client failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(
    kind: str,
    args: argparse.Namespace,
    env: dict[str, str],
    queries: list[tuple[float, float]],
    tmp: Path,
    services_pids: list[int],
) -> dict[str, Any]:
    from backend.embedded import free_port
    from backend.geo import wgs84_to_gcj02

    if kind in ("bare", "bare_app"):
        targets = [
            f"/bare/nearby?lat={lat:.6f}&lng={lng:.6f}&radius_m={args.radius}&limit={args.limit}"
            for lat, lng in queries
        ]
    else:
        gcj = [wgs84_to_gcj02(lat, lng) for lat, lng in queries]
        targets = [
            f"/api/mp/v1/toilets/nearby?lat={p.lat:.6f}&lng={p.lng:.6f}&radius_m={args.radius}&limit={args.limit}"
            for p in gcj
        ]
    targets_file = tmp / f"targets-{kind}.txt"
    targets_file.write_text("\n".join(targets))
    port = free_port()
    server = start_server(kind, port, args.workers, env)
    codes = [f"BN-{i:05d}" for i in range(args.toilets)]
    try:
        body = wait_ready(port, targets[0], server)
        sample = json.loads(body)
        found = len(sample) if kind in ("bare", "bare_app") else len(sample["items"])
        with DeviceWriter(env["REDIS_URL"], codes, args.device_period) as devices:
            cpu0, t0 = cpu_of([server.pid]), time.perf_counter()
            svc0 = cpu_of(services_pids)
            saturated = run_load(port, targets_file, args, 0.0)
            wall = time.perf_counter() - t0
            server_cpu = cpu_of([server.pid]) - cpu0
            server_cores = server_cpu / wall
            cpu_ms = server_cpu * 1000 / max(saturated["all_requests"], 1)
            service_cores = (cpu_of(services_pids) - svc0) / wall
            rate = args.rate or round(saturated["rps"] * 0.5)
            fixed = run_load(port, targets_file, args, rate) if kind == "ours" else None
    finally:
        stop_server(server)
    print(
        f"{kind:>8}: {saturated['rps']:8.0f} req/s saturated at {args.connections} connections "
        f"(p50 {saturated['p50_ms']:.1f} ms, p99 {saturated['p99_ms']:.1f} ms, "
        f"errors {saturated['errors'] or 'none'}); "
        f"server {server_cores:.2f} cores ({cpu_ms:.2f} ms CPU per request), Valkey+PostgreSQL "
        f"{service_cores:.2f}; {found} results in the first answer; {devices.per_s:.0f} live-state writes/s meanwhile",
        file=sys.stderr,
        flush=True,
    )
    if fixed:
        print(
            f"{kind:>8}: at a fixed {rate:.0f} req/s over {args.connections} connections: {fixed['rps']:.0f} req/s, "
            f"p50 {fixed['p50_ms']:.1f} ms, p99 {fixed['p99_ms']:.1f} ms, errors {fixed['errors'] or 'none'}",
            file=sys.stderr,
            flush=True,
        )
    return {
        "saturated": saturated,
        "fixed": fixed,
        "rate": rate,
        "server_cores": server_cores,
        "cpu_ms": cpu_ms,
        "device_writes_per_s": devices.per_s,
        "found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="granian worker processes per server")
    parser.add_argument("--toilets", type=int, default=10_000)
    parser.add_argument("--radius", type=int, default=500, help="search radius, metres")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument(
        "--device-period",
        type=float,
        default=60.0,
        help="each toilet reports again every this many seconds during the runs (0: no writes)",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offered load of the fixed-rate latency run (0: half the saturated rps)"
    )
    # client mode (internal)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    from backend.embedded import EmbeddedServices, free_port
    from backend.settings import get_settings, reset_settings_cache

    started = time.perf_counter()
    (ROOT / ".data").mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-nearby-{os.getpid()}-", dir=ROOT / ".data"))
    services = EmbeddedServices(tmp / "services", pg_port=free_port(), redis_port=free_port(), s3_port=free_port())
    print(f"starting embedded PostgreSQL, Valkey and S3 in {tmp} …", file=sys.stderr, flush=True)
    try:
        env_services = services.start()
        env = {
            **os.environ, **env_services, "CHENGGUAN_ENV": "development", "LOG_LEVEL": "warning", "LOG_JSON": "true",
            "DATABASE_POOL_SIZE": "4", "CHENGGUAN_DATA_DIR": str(tmp),
        }  # fmt: skip
        os.environ.update(env)
        reset_settings_cache()
        settings = get_settings()
        from backend.cli import run_migrations

        assert settings.db.url is not None
        run_migrations(settings.db.url)
        print(f"placing {args.toilets} toilets with live state …", file=sys.stderr, flush=True)
        asyncio.run(populate(settings, args.toilets))
        queries = points(random.Random(7), QUERIES, QUERY_DISC_M)
        pids = [p.process.pid for p in (services.valkey,) if p is not None and p.process is not None]
        with contextlib.suppress(OSError, ValueError, IndexError, AttributeError):
            assert services.postgres is not None
            pids.append(int((services.postgres.data_dir / "postmaster.pid").read_text().splitlines()[0]))
        kinds = ("bare", "bare_app", "ours", "fastapi")
        results = {kind: measure(kind, args, env, queries, tmp, pids) for kind in kinds}
    finally:
        services.remove_data()
        shutil.rmtree(tmp, ignore_errors=True)

    ours, bare, bare_app, fast = (results[k]["saturated"] for k in ("ours", "bare", "bare_app", "fastapi"))
    fixed = results["ours"]["fixed"]
    figures = {
        "rps": round(ours["rps"]),
        "p99_ms": round(fixed["p99_ms"], 1),
        "p99_ms_saturated": round(ours["p99_ms"], 1),
        "p50_ms_saturated": round(ours["p50_ms"], 1),
        "fixed_rate_offered_rps": results["ours"]["rate"],
        "fixed_rate_rps": round(fixed["rps"]),
        "ratio_vs_bare": round(ours["rps"] / bare["rps"], 3),
        "ratio_vs_bare_same_app": round(ours["rps"] / bare_app["rps"], 3),
        "ratio_vs_fastapi": round(ours["rps"] / fast["rps"], 3),
        "cpu_ms_per_request": {k: round(results[k]["cpu_ms"], 3) for k in results},
        "ratio_vs_bare_by_cpu": round(results["bare"]["cpu_ms"] / results["ours"]["cpu_ms"], 3),
        "ratio_vs_fastapi_by_cpu": round(results["fastapi"]["cpu_ms"] / results["ours"]["cpu_ms"], 3),
        "bare_rps": round(bare["rps"]),
        "bare_same_app_rps": round(bare_app["rps"]),
        "fastapi_rps": round(fast["rps"]),
        "fastapi_p99_ms_saturated": round(fast["p99_ms"], 1),
        "connections": args.connections,
        "workers": args.workers,
        "toilets": args.toilets,
        "radius_m": args.radius,
        "limit": args.limit,
        "results_per_answer": results["ours"]["found"],
        "device_writes_per_s": {k: round(results[k]["device_writes_per_s"]) for k in results},
        "errors": {k: results[k]["saturated"]["errors"] for k in results},
        "cpu_count": os.cpu_count(),
        "total_run_s": round(time.perf_counter() - started, 1),
    }
    print(
        f"ours / bare = {figures['ratio_vs_bare']} (target ≥ 0.7); ours / FastAPI = {figures['ratio_vs_fastapi']} "
        f"(target ≥ 2); ours / bare in the same app = {figures['ratio_vs_bare_same_app']}; "
        f"p99 at {results['ours']['rate']:.0f} req/s = {figures['p99_ms']} ms (target ≤ 20)",
        file=sys.stderr,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
