"""Report intake (信息收集) through ``backend.cases.service.intake`` with 100,000 open cases present.

One report is one transaction, as one request is in the app: check a connection out of the pool, get
the geocoder (cached in memory), geocode, take a case number (Redis), then ONE statement looks for
similar open cases and inserts the case, its reporter, the first event and the outbox message; commit.
``--workers`` asyncio tasks, each on its own session and connection, file reports back to back for
``--seconds``.

Baseline in the same run, through the same engine, pool and workers: a bare INSERT of the same case
row and its event row per transaction (no geocode, similar-case search, number counter, reporter or
outbox). Prints the ratio of the two. A second baseline numbers those bare rows from the day's case
number counter (the upsert intake uses): every transaction of the day holds that row until it
commits, so it shows what the counter alone costs here. The CPU used per report by this process and
by PostgreSQL is measured, and so is the share of the cores other processes took meanwhile: the
machine may be shared, and a busy neighbour slows every figure.

The open cases are generated in Python and COPYed in before the run: spread over the demo city's 540
unit grids (some grids much busier than others, as in a real city), 20 catalog categories, created in
the last 72 h so the similar-case windows cover them, in the open states with their stage clocks
computed on the real working calendar, with their events, reporters and processed outbox messages.
The reports filed during the run come from the same spread, so the similar-case search finds
neighbours as it would in production.

    .venv/bin/python bench/intake.py [--workers 12] [--seconds 15] [--open-cases 100000] [--profile]

A short single-task run under cProfile (CPU time) always ends the bench: its table says where a
report's CPU time goes; ``--profile`` also prints the top functions.

Progress goes to stderr; the last line of stdout is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import h3
import numpy as np
import psutil
import shapely
import uuid_utils
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.cases import clock as clocks
from backend.cases import service
from backend.cases.enums import CaseSource, CaseState
from backend.cases.rules import stage_for
from backend.cases.service import Actor, IntakeData
from backend.db import create_engine, create_session_factory, transaction
from backend.embedded import EmbeddedServices, free_port
from backend.geo.cache import GeocoderCache
from backend.models import Case, CaseEvent, Category, Department, Staff, new_id
from backend.seed.demo import demo_layout
from backend.worktime import DEFAULT_CALENDAR, SHANGHAI

# Citizen-selectable categories without required questions whose similar-case window is at least 72 h,
# most frequent first (exposed garbage is by far the most reported problem in every city).
CATEGORIES = [
    "E0101", "E0102", "E0511", "E0201", "E0601", "E0502", "E0105", "E0107", "E0113", "E0204",
    "E0302", "E0404", "E0603", "E0205", "E0203", "E0110", "E0112", "E0508", "E0305", "E0606",
]  # fmt: skip
WINDOW = timedelta(hours=72)
# Open states and their share of the open cases, with the history (action, state reached) behind each.
STATE_MIX: dict[str, float] = {
    "reported": 0.22,
    "verifying": 0.04,
    "accepted": 0.08,
    "dispatched": 0.18,
    "disposing": 0.33,
    "disposed": 0.12,
    "suspended": 0.03,
}
HISTORY: dict[str, list[tuple[str, str]]] = {
    "reported": [("report", "reported")],
    "verifying": [("report", "reported"), ("verify_request", "verifying")],
    "accepted": [("report", "reported"), ("accept", "accepted")],
    "dispatched": [("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched")],
    "disposing": [("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing")],
    "disposed": [
        ("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing"),
        ("finish", "disposed"),
    ],
    "suspended": [
        ("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing"),
        ("suspend", "suspended"),
    ],
}  # fmt: skip
# The event whose time started the stage clock running in each state (index into HISTORY).
STAGE_STARTED_BY = {
    "reported": 0, "verifying": 0, "accepted": 1, "dispatched": 2, "disposing": 2, "disposed": 4, "suspended": 2,
}  # fmt: skip
STAGE_SEQ = {"accept": 1, "dispatch": 2, "dispose": 3, "check": 4}
# (source, reporter kind, share)
SOURCES = [("citizen", "citizen", 0.5), ("collector", "staff", 0.3), ("hotline_12345", "phone", 0.2)]
DESCRIPTIONS = ["路边堆了很多垃圾", "人行道上有杂物", "墙上贴满了小广告", "路面有坑", "店外占道经营", "下水道堵了"]

CASE_COLUMNS = [
    "id", "number", "source", "kind", "category_code", "urgency", "state", "suspended_from", "description",
    "address", "lat", "lng", "cell", "grid_code", "community_code", "street_code", "district_code", "answers",
    "photos", "reporter_kind", "reporter_id", "reporter_phone", "main_department_id", "assist_department_ids",
    "dispatch_candidates", "stage", "stage_seq", "stage_unit", "stage_limit", "stage_started_at", "stage_consumed",
    "segment_started_at", "yellow_at", "deadline", "light", "returns", "reworks", "extensions", "reopens",
    "accepted_at", "dispatched_at", "disposed_at", "version", "created_at", "updated_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "case_id", "seq", "action", "from_state", "to_state", "actor_kind", "actor_id", "actor_role",
    "department_id", "note", "attachments", "data", "stage", "stage_deadline", "on_time", "created_at",
]  # fmt: skip
REPORTER_COLUMNS = ["id", "case_id", "reporter_kind", "reporter_id", "reporter_phone", "original_case_id", "created_at"]
OUTBOX_COLUMNS = ["id", "topic", "payload", "dedup_key", "created_at", "available_at", "relayed_at", "processed_at"]


# Numbers of the baseline's rows: their own prefix, so they never meet the service's day numbers.
BARE_NUMBERS = itertools.count(1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the city's spread ------------------------------------------------------------------------------


@dataclass
class CitySpread:
    """Where reports come from: a grid drawn by its (skewed) weight, a point uniform inside it."""

    codes: list[str]
    polygons: np.ndarray[Any, Any]
    bounds: np.ndarray[Any, Any]
    weights: np.ndarray[Any, Any]
    category_weights: np.ndarray[Any, Any]

    @classmethod
    def demo(cls, rng: np.random.Generator) -> CitySpread:
        grids = demo_layout().grids
        polygons = np.array([g.polygon for g in grids], dtype=object)
        shapely.prepare(polygons)
        # Log-normal activity per grid: town centres and markets report many times what fields do.
        weights = rng.lognormal(0.0, 1.0, len(grids))
        ranks = np.arange(1, len(CATEGORIES) + 1, dtype=float)
        category_weights = ranks**-0.8
        return cls(
            codes=[g.code for g in grids],
            polygons=polygons,
            bounds=shapely.bounds(polygons),
            weights=weights / weights.sum(),
            category_weights=category_weights / category_weights.sum(),
        )

    def points(
        self, rng: np.random.Generator, n: int
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(grid index, lat, lng) of ``n`` points, each strictly inside its grid (rejection sampling)."""
        grid = rng.choice(len(self.codes), size=n, p=self.weights)
        lat = np.empty(n)
        lng = np.empty(n)
        todo = np.arange(n)
        while todo.size:
            b = self.bounds[grid[todo]]
            x = rng.uniform(b[:, 0], b[:, 2])
            y = rng.uniform(b[:, 1], b[:, 3])
            inside = shapely.contains_xy(self.polygons[grid[todo]], x, y)
            lng[todo[inside]] = x[inside]
            lat[todo[inside]] = y[inside]
            todo = todo[~inside]
        return grid, lat, lng

    def categories(self, rng: np.random.Generator, n: int) -> list[str]:
        return [CATEGORIES[i] for i in rng.choice(len(CATEGORIES), size=n, p=self.category_weights)]


# --- bulk load ----------------------------------------------------------------------------------------


@dataclass
class Loaded:
    cases: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    reporters: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    counters: dict[date, int] = field(default_factory=dict)


def generate_open_cases(
    n: int,
    now: datetime,
    spread: CitySpread,
    rng: np.random.Generator,
    time_limits: dict[str, dict[str, Any]],
    departments: list[uuid.UUID],
    collector_id: str,
) -> Loaded:
    grid, lat, lng = spread.points(rng, n)
    categories = spread.categories(rng, n)
    ages = np.sort(rng.uniform(0.0, WINDOW.total_seconds() - 60, n))[::-1]  # oldest first, so ids ascend
    states = rng.choice(list(STATE_MIX), size=n, p=list(STATE_MIX.values()))
    sources = rng.choice(len(SOURCES), size=n, p=[s[2] for s in SOURCES])
    fractions = rng.uniform(0.0, 1.0, (n, max(len(h) for h in HISTORY.values()))).tolist()
    # uuid_utils' own UUIDv7 objects (what ``new_id`` wraps): asyncpg encodes anything with ``.bytes``,
    # and building 750,000 stdlib UUIDs would take longer than the COPY.
    uuid7 = uuid_utils.uuid7
    out = Loaded()
    per_day: dict[date, int] = {}
    for i in range(n):
        created = now - timedelta(seconds=float(ages[i]))
        state = str(states[i])
        history = HISTORY[state]
        # Event times: the report at creation, the later steps spread between creation and now.
        offsets = sorted(fractions[i][: len(history) - 1])
        times = [created, *(created + timedelta(seconds=o * float(ages[i])) for o in offsets)]
        code = spread.codes[int(grid[i])]
        category = categories[i]
        source, reporter_kind, _ = SOURCES[int(sources[i])]
        reporter_id = f"bench-citizen-{i % 20_000}" if reporter_kind == "citizen" else None
        if reporter_kind == "staff":
            reporter_id = collector_id
        phone = f"139{i % 100_000_000:08d}" if reporter_kind == "phone" else None
        day = created.astimezone(SHANGHAI).date()
        per_day[day] = per_day.get(day, 0) + 1
        number = f"{day:%Y%m%d}{per_day[day]:04d}"

        stage = stage_for(CaseState(state if state != "suspended" else "disposing"))
        assert stage is not None
        limit = time_limits[category][stage.value]
        stage_started = times[STAGE_STARTED_BY[state]]
        clock = clocks.start(stage.value, float(limit["amount"]), limit["unit"], stage_started, DEFAULT_CALENDAR)
        if state == "suspended":
            clock = clocks.pause(clock, times[-1], DEFAULT_CALENDAR)
        light = clocks.light_at(clock, now) if clock.segment_started_at is not None else "green"
        dispatched = state in {"dispatched", "disposing", "disposed", "suspended"}
        department = departments[i % len(departments)] if dispatched else None
        case_id = uuid7()
        out.cases.append(
            (
                case_id, number, source, "promise", category, "normal", state,
                "disposing" if state == "suspended" else None, DESCRIPTIONS[i % len(DESCRIPTIONS)],
                "", float(lat[i]), float(lng[i]), h3.str_to_int(h3.latlng_to_cell(lat[i], lng[i], 10)),
                code, code[:12], code[:9], code[:6], "{}", [f"cases/bench/{case_id}.jpg"],
                reporter_kind, reporter_id, phone, department, [], "[]",
                clock.stage, STAGE_SEQ[clock.stage], clock.unit, clock.limit, clock.started_at, clock.consumed,
                clock.segment_started_at, clock.yellow_at, clock.deadline, light, 0, 0, 0, 0,
                times[1] if len(times) > 1 and history[1][0] == "accept" else None,
                times[2] if dispatched else None,
                times[4] if state == "disposed" else None,
                len(history), created, times[-1],
            )
        )  # fmt: skip
        out.reporters.append((uuid7(), case_id, reporter_kind, reporter_id, phone, case_id, created))
        from_state: str | None = None
        for seq, ((action, to_state), at) in enumerate(zip(history, times, strict=True), start=1):
            event_id = uuid7()
            actor_kind = "citizen" if seq == 1 and reporter_kind == "citizen" else "staff"
            out.events.append(
                (
                    event_id, case_id, seq, action, from_state, to_state, actor_kind, reporter_id if seq == 1 else None,
                    "citizen" if actor_kind == "citizen" else "seat", department if seq > 3 else None,
                    "", [], "{}", None, None, None, at,
                )
            )  # fmt: skip
            payload = (
                f'{{"case_id": "{case_id}", "event_id": "{event_id}", "action": "{action}", "to_state": "{to_state}"}}'
            )
            out.outbox.append(
                (
                    uuid7(), "case.event", payload, f"case.event:{event_id}", at, at,
                    at + timedelta(milliseconds=50), at + timedelta(milliseconds=200),
                )
            )  # fmt: skip
            from_state = to_state
    out.counters = per_day
    return out


async def bulk_load(dsn: str, loaded: Loaded) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, columns, rows in (
                ("cases", CASE_COLUMNS, loaded.cases),
                ("case_reporters", REPORTER_COLUMNS, loaded.reporters),
                ("case_events", EVENT_COLUMNS, loaded.events),
                ("outbox_messages", OUTBOX_COLUMNS, loaded.outbox),
            ):
                start = time.perf_counter()
                await conn.copy_records_to_table(table, records=rows, columns=columns)
                log(f"  COPY {table}: {len(rows):,} rows in {time.perf_counter() - start:.1f} s")
            await conn.executemany(
                "INSERT INTO case_number_counters (day, last) VALUES ($1, $2) "
                "ON CONFLICT (day) DO UPDATE SET last = GREATEST(case_number_counters.last, EXCLUDED.last)",
                sorted(loaded.counters.items()),
            )
        for table in ("cases", "case_events", "case_reporters", "outbox_messages", "case_number_counters"):
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


# --- the workloads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One report to file: what a surface would pass to the service, plus the precomputed row bits
    the bare-insert baseline needs (so that the baseline does no geo work at all)."""

    actor: Actor
    data: IntakeData
    cell: int
    grid_code: str


def make_jobs(spread: CitySpread, rng: np.random.Generator, n: int, actors: dict[str, Actor]) -> list[Job]:
    grid, lat, lng = spread.points(rng, n)
    categories = spread.categories(rng, n)
    sources = rng.choice(len(SOURCES), size=n, p=[s[2] for s in SOURCES])
    jobs = []
    for i in range(n):
        source = SOURCES[int(sources[i])][0]
        actor = {
            "citizen": Actor.citizen(f"bench-citizen-{i % 20_000}"),
            "collector": actors["collector1"],
            "hotline_12345": actors["seat1"],
        }[source]
        data = IntakeData(
            source=CaseSource(source),
            category_code=categories[i],
            lat=float(lat[i]),
            lng=float(lng[i]),
            description=DESCRIPTIONS[i % len(DESCRIPTIONS)],
            photos=[f"cases/bench/new-{i}.jpg"],
            reporter_phone=f"139{i % 100_000_000:08d}" if source == "hotline_12345" else None,
        )
        cell = h3.str_to_int(h3.latlng_to_cell(lat[i], lng[i], 10))
        jobs.append(Job(actor, data, cell, spread.codes[int(grid[i])]))
    return jobs


@dataclass
class RunResult:
    done: int
    seconds: float
    latencies: list[float]
    similar_hits: int
    python_cpu_s: float
    postgres_cpu_s: float
    # Share of the machine's cores busy with processes other than this one and its PostgreSQL
    # during the run: the machine is shared, and a busy neighbour slows every figure here.
    others_cpu_share: float

    @property
    def per_s(self) -> float:
        return self.done / self.seconds

    def ms(self, q: float) -> float:
        return float(np.percentile(np.array(self.latencies), q) * 1000.0)


class PostgresCpu:
    """CPU seconds used by the PostgreSQL server processes (postmaster and its backends)."""

    def __init__(self, data_dir: Path) -> None:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        self.postmaster = psutil.Process(pid)

    def total(self) -> float:
        total = 0.0
        for proc in [self.postmaster, *self.postmaster.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total


async def run_intake(
    factory: async_sessionmaker[AsyncSession],
    cache: GeocoderCache,
    jobs: Iterator[Job],
    workers: int,
    seconds: float,
    pg_cpu: PostgresCpu | None,
) -> RunResult:
    latencies: list[float] = []
    hits = 0

    async def worker(stop_at: float) -> None:
        nonlocal hits
        while time.perf_counter() < stop_at:
            job = next(jobs)
            start = time.perf_counter()
            async with transaction(factory) as session:
                geocoder = await cache.get(session)
                result = await service.intake(session, geocoder, job.actor, job.data)
            latencies.append(time.perf_counter() - start)
            hits += bool(result.similar)

    return await _timed(worker, workers, seconds, pg_cpu, latencies, lambda: hits)


async def run_bare_insert(
    factory: async_sessionmaker[AsyncSession],
    jobs: Iterator[Job],
    workers: int,
    seconds: float,
    pg_cpu: PostgresCpu | None,
    clock: clocks.StageClock,
    *,
    with_counter: bool = False,
) -> RunResult:
    """The case row and its event row, inserted with two Core statements in one transaction. With
    ``with_counter`` the number comes from the service's day counter (the same upsert), as in intake."""
    latencies: list[float] = []
    # Core inserts on the tables: no ORM unit of work, nothing but the two statements.
    case_insert = insert(cast(Table, Case.__table__))
    event_insert = insert(cast(Table, CaseEvent.__table__))

    async def worker(stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            job = next(jobs)
            start = time.perf_counter()
            now = datetime.now(UTC)
            case_id = new_id()
            code = job.grid_code
            async with transaction(factory) as session:
                if with_counter:
                    number = await service.next_number(session, now)
                else:
                    number = f"B{next(BARE_NUMBERS):012d}"
                await session.execute(
                    case_insert,
                    {
                        "id": case_id, "number": number, "source": job.data.source.value,
                        "kind": "promise", "category_code": job.data.category_code, "urgency": "normal",
                        "state": "reported", "description": job.data.description, "address": "",
                        "lat": job.data.lat, "lng": job.data.lng, "cell": job.cell, "grid_code": code,
                        "community_code": code[:12], "street_code": code[:9], "district_code": code[:6],
                        "answers": {}, "photos": job.data.photos, "reporter_kind": "citizen",
                        "reporter_id": job.actor.id, "reporter_phone": job.data.reporter_phone,
                        "assist_department_ids": [], "dispatch_candidates": [], "stage": clock.stage, "stage_seq": 1,
                        "stage_unit": clock.unit, "stage_limit": clock.limit, "stage_started_at": now,
                        "stage_consumed": 0.0, "segment_started_at": now, "yellow_at": clock.yellow_at,
                        "deadline": clock.deadline, "light": "green", "returns": 0, "reworks": 0, "extensions": 0,
                        "reopens": 0, "version": 1, "created_at": now, "updated_at": now,
                    },
                )  # fmt: skip
                await session.execute(
                    event_insert,
                    {
                        "id": new_id(), "case_id": case_id, "seq": 1, "action": "report", "from_state": None,
                        "to_state": "reported", "actor_kind": job.actor.kind, "actor_id": job.actor.id,
                        "actor_role": "citizen", "department_id": None, "note": job.data.description,
                        "attachments": job.data.photos, "data": {"source": job.data.source.value, "similar": []},
                        "stage": clock.stage, "stage_deadline": clock.deadline, "on_time": None, "created_at": now,
                    },
                )  # fmt: skip
            latencies.append(time.perf_counter() - start)

    return await _timed(worker, workers, seconds, pg_cpu, latencies, lambda: 0)


def _busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


async def _timed(
    worker: Any, workers: int, seconds: float, pg_cpu: PostgresCpu | None, latencies: list[float], hits: Any
) -> RunResult:
    cpu0 = time.process_time()
    pg0 = pg_cpu.total() if pg_cpu else 0.0
    busy0 = _busy_s()
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + seconds) for _ in range(workers)))
    elapsed = time.perf_counter() - start
    python_cpu = time.process_time() - cpu0
    postgres_cpu = (pg_cpu.total() - pg0) if pg_cpu else 0.0
    others = max(0.0, _busy_s() - busy0 - python_cpu - postgres_cpu) if pg_cpu else 0.0
    return RunResult(
        done=len(latencies),
        seconds=elapsed,
        latencies=latencies,
        similar_hits=int(hits()),
        python_cpu_s=python_cpu,
        postgres_cpu_s=postgres_cpu,
        others_cpu_share=others / (elapsed * (os.cpu_count() or 1)),
    )


async def trace_statements(
    factory: async_sessionmaker[AsyncSession], cache: GeocoderCache, jobs: Iterator[Job]
) -> list[str]:
    """The statements one report sends to PostgreSQL, as the driver sees them (SQLAlchemy's and the
    service's own asyncpg ones alike), after a first report has warmed the caches."""
    statements: list[str] = []

    def record(query: Any) -> None:
        statements.append(" ".join(query.query.split())[:110])

    for warm in (True, False):
        async with transaction(factory) as session:
            driver = await service._driver(session)  # checks out the connection and BEGINs
            if not warm:
                driver.add_query_logger(record)
            try:
                geocoder = await cache.get(session)
                await service.intake(session, geocoder, next(jobs).actor, next(jobs).data)
            finally:
                driver.remove_query_logger(record)
    return statements


# The steps of a report worth naming in the profile: (label, file suffix, function name).
PROFILE_STEPS = [
    ("whole report (transaction)", "bench/intake.py", "worker"),
    ("service.intake", "backend/cases/service.py", "intake"),
    ("  CATEGORIES.get (from memory)", "backend/catalog/cache.py", "get"),
    ("  connection checkout + BEGIN", "sqlalchemy/ext/asyncio/session.py", "connection"),
    ("  similar search + 4 inserts (one statement)", "asyncpg/connection.py", "fetch"),
    ("  similar-case H3 cells", "backend/geo/coords.py", "cell_ids_within"),
    ("  next_number (Redis)", "backend/cases/service.py", "next_number"),
    ("  row values to statement arguments", "backend/cases/service.py", "_args"),
    ("  _start_stage (working calendar)", "backend/cases/service.py", "_start_stage"),
    ("  geocoder.locate", "backend/geo/geocoder.py", "locate"),
    ("commit", "sqlalchemy/ext/asyncio/session.py", "commit"),
]


@dataclass
class Profiled:
    table: str  # CPU ms per report for each step in PROFILE_STEPS
    top: str  # pstats' top functions by own time
    calls_per_report: float  # Python function calls per report: a count, so the machine's load cannot move it
    shares: dict[str, float]  # each step's share of the whole report's CPU time, in %


async def profile_single_task(
    factory: async_sessionmaker[AsyncSession], cache: GeocoderCache, jobs: Iterator[Job], seconds: float
) -> Profiled:
    """One task under cProfile timing CPU (not wall) time: the machine may be shared, and wall time
    would charge whatever ran on the core meanwhile to the function that was waiting."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    result = await run_intake(factory, cache, jobs, 1, seconds, None)
    profiler.disable()
    top = io.StringIO()
    stats = pstats.Stats(profiler, stream=top)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    per_report = {
        label: sum(v[3] for (file, _, func), v in raw.items() if file.endswith(suffix) and func == name) / result.done
        for label, suffix, name in PROFILE_STEPS
    }
    whole = per_report[PROFILE_STEPS[0][0]] or 1.0
    table = "".join(f"  {label:<44} {ms * 1000:7.2f}  {ms / whole * 100:5.1f} %\n" for label, ms in per_report.items())
    stats.sort_stats("tottime").print_stats(20)
    return Profiled(
        table=f"single task under cProfile, CPU ms per report (inflated by the profiler) and share:\n{table}",
        top=top.getvalue(),
        calls_per_report=stats.total_calls / result.done,  # type: ignore[attr-defined]
        shares={label.strip(): round(ms / whole * 100, 1) for label, ms in per_report.items()},
    )


# --- main -------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, settings: Any, dsn: str, pg_cpu: PostgresCpu) -> dict[str, Any]:
    from backend.seed.demo import seed_demo

    log("seeding the demo city …")
    await seed_demo(settings)
    engine = create_engine(settings)
    # As in the served application (backend/runtime.py): case numbers come from Redis.
    from backend.cases import numbers
    from backend.redis import create_redis

    numbers.use_redis(create_redis(os.environ["REDIS_URL"]))
    factory = create_session_factory(engine)
    rng = np.random.default_rng(2026)
    spread = CitySpread.demo(rng)
    try:
        async with factory() as session:
            rows = (await session.scalars(select(Category).where(Category.code.in_(CATEGORIES)))).all()
            time_limits = {c.code: c.time_limits["normal"] for c in rows}
            if len(time_limits) != len(CATEGORIES):
                raise SystemExit(f"categories missing from the catalog: {set(CATEGORIES) - set(time_limits)}")
            departments = list(
                (await session.scalars(select(Department.id).where(Department.kind != "command_center"))).all()
            )
            staff = (await session.scalars(select(Staff).where(Staff.username.in_(["collector1", "seat1"])))).all()
            actors = {s.username: Actor.staff(s.id, s.roles, s.department_id, s.grid_codes) for s in staff}

        now = datetime.now(UTC)
        log(f"generating {args.open_cases:,} open cases over {len(spread.codes)} grids …")
        start = time.perf_counter()
        loaded = generate_open_cases(
            args.open_cases, now, spread, rng, time_limits, departments, str(actors["collector1"].id)
        )
        log(f"  generated in {time.perf_counter() - start:.1f} s; COPYing …")
        start = time.perf_counter()
        await bulk_load(dsn, loaded)
        load_s = time.perf_counter() - start
        log(f"  loaded and analysed in {load_s:.1f} s")
        del loaded

        # A pool of reports, reused round-robin if a fast machine gets through it.
        jobs = itertools.cycle(make_jobs(spread, rng, 60_000, actors))
        cache = GeocoderCache()
        async with factory() as session:
            await cache.get(session)  # loaded once per process (then re-checked every 10 s): not per report
        statements = await trace_statements(factory, cache, jobs)
        log(f"one report sends {len(statements)} statement(s) besides BEGIN and COMMIT (and a Redis INCR):")
        for s in statements:
            log(f"  {s}")

        async with engine.connect() as conn:
            open_cases = (
                await conn.execute(select(func.count()).select_from(Case).where(Case.state.in_(service.OPEN_STATES)))
            ).scalar_one()
        commit_ms = await commit_latency_ms(dsn)
        log(f"{open_cases:,} open cases; one small commit (WAL flush) takes {commit_ms:.2f} ms here")

        log(f"warming up ({args.workers} workers, 2 s) …")
        await run_intake(factory, cache, jobs, args.workers, 2.0, None)
        log(f"intake: {args.workers} workers for {args.seconds:g} s …")
        intake = await run_intake(factory, cache, jobs, args.workers, args.seconds, pg_cpu)
        log(f"  {intake.per_s:,.0f} reports/s, p50 {intake.ms(50):.1f} ms, p99 {intake.ms(99):.1f} ms")
        log("intake: 1 worker for 5 s …")
        single = await run_intake(factory, cache, jobs, 1, 5.0, pg_cpu)
        log(f"  {single.per_s:,.0f} reports/s, p50 {single.ms(50):.2f} ms")

        reported = clocks.start("accept", 1.0, "working_hours", datetime.now(UTC), DEFAULT_CALENDAR)
        log(f"bare insert: {args.workers} workers for {args.seconds:g} s …")
        await run_bare_insert(factory, jobs, args.workers, 1.0, None, reported)
        bare = await run_bare_insert(factory, jobs, args.workers, args.seconds, pg_cpu, reported)
        log(f"  {bare.per_s:,.0f} inserts/s, p50 {bare.ms(50):.1f} ms, p99 {bare.ms(99):.1f} ms")
        counter_s = max(5.0, args.seconds / 2)
        log(f"bare insert numbered by the day counter: {args.workers} workers for {counter_s:g} s …")
        counted = await run_bare_insert(factory, jobs, args.workers, counter_s, pg_cpu, reported, with_counter=True)
        log(f"  {counted.per_s:,.0f} inserts/s, p50 {counted.ms(50):.1f} ms, p99 {counted.ms(99):.1f} ms")

        log("profiling one task for 3 s (cProfile, CPU time) …")
        profiled = await profile_single_task(factory, cache, jobs, 3.0)
        log(profiled.table.rstrip())
        log(f"  {profiled.calls_per_report:,.0f} Python function calls per report")
        if args.profile:
            log(profiled.top)
    finally:
        await engine.dispose()

    def per_op_ms(r: RunResult, cpu: float) -> float:
        return round(cpu / r.done * 1000.0, 3)

    return {
        "open_cases": int(open_cases),
        "load_s": round(load_s, 1),
        "workers": args.workers,
        "seconds": round(intake.seconds, 1),
        "reports": intake.done,
        "reports_per_s": round(intake.per_s),
        "p50_ms": round(intake.ms(50), 2),
        "p99_ms": round(intake.ms(99), 2),
        "similar_hit_share": round(intake.similar_hits / intake.done, 3),
        "statements_per_report": len(statements),
        "python_cpu_ms_per_report": per_op_ms(intake, intake.python_cpu_s),
        "postgres_cpu_ms_per_report": per_op_ms(intake, intake.postgres_cpu_s),
        "others_cpu_share": round(intake.others_cpu_share, 2),
        "single_worker_reports_per_s": round(single.per_s),
        "single_worker_p50_ms": round(single.ms(50), 2),
        "single_worker_python_cpu_ms_per_report": per_op_ms(single, single.python_cpu_s),
        "bare_insert_per_s": round(bare.per_s),
        "bare_p50_ms": round(bare.ms(50), 2),
        "bare_p99_ms": round(bare.ms(99), 2),
        "bare_python_cpu_ms_per_insert": per_op_ms(bare, bare.python_cpu_s),
        "bare_postgres_cpu_ms_per_insert": per_op_ms(bare, bare.postgres_cpu_s),
        "bare_others_cpu_share": round(bare.others_cpu_share, 2),
        "bare_with_counter_per_s": round(counted.per_s),
        "bare_with_counter_p50_ms": round(counted.ms(50), 2),
        "commit_ms": round(commit_ms, 2),
        "python_calls_per_report": round(profiled.calls_per_report),
        "profile_cpu_share_pct": profiled.shares,
        "ratio_vs_bare": round(intake.per_s / bare.per_s, 2),
        "target_reports_per_s": 1000,
    }


async def commit_latency_ms(dsn: str, n: int = 200) -> float:
    """How long one tiny autocommitted INSERT takes on this disk: mostly its commit's WAL flush (fsync=on)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_commit_probe (x int)")
        start = time.perf_counter()
        for _ in range(n):
            await conn.execute("INSERT INTO bench_commit_probe VALUES (1)")
        elapsed = time.perf_counter() - start
        await conn.execute("DROP TABLE bench_commit_probe")
        return elapsed / n * 1000.0
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--open-cases", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="also print the profile's top functions by own time")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="chengguan-bench-intake-"))
    services = EmbeddedServices(
        root, pg_port=free_port(), redis_port=free_port(), s3_port=free_port(), want_redis=True, want_s3=False
    )
    try:
        log(f"starting PostgreSQL and Valkey under {root} …")
        env = services.start()
        os.environ.update(env)
        os.environ.setdefault("LOG_LEVEL", "warning")
        os.environ["DATABASE_POOL_SIZE"] = str(args.workers)
        from backend.cli import run_migrations
        from backend.settings import get_settings, reset_settings_cache

        reset_settings_cache()
        log("migrating …")
        run_migrations(env["DATABASE_URL"])
        settings = get_settings()
        assert services.postgres is not None
        dsn = env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        figures = asyncio.run(bench(args, settings, dsn, PostgresCpu(services.postgres.data_dir)))
    finally:
        log("stopping PostgreSQL and removing its data …")
        services.remove_data()

    print(
        f"intake {figures['reports_per_s']:,} reports/s (p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms) "
        f"with {figures['open_cases']:,} open cases, {args.workers} workers"
    )
    print(
        f"bare insert of the same case + event rows: {figures['bare_insert_per_s']:,}/s; "
        f"numbered by the day counter: {figures['bare_with_counter_per_s']:,}/s"
    )
    print(f"intake / bare insert = {figures['ratio_vs_bare']}; target ≥ 1,000 reports/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
