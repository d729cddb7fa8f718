"""The deadline sweep (督办, ``backend.cases.sweep.sweep``) over 100,000 open cases with running clocks.

Each sweep runs in its own transaction, as the periodic job does, and is timed with its commit:

- steady: nothing has crossed a threshold since the last sweep — the common case, every minute;
- realistic (``sweep_s``): 2 % of the open cases turn yellow and 1 % red on this sweep;
- worst: 10 % cross at once (6 % yellow, 4 % red), as after the sweeper was down for a while.

The cases are generated in Python and COPYed in, with their events (the sweep numbers its events after
each case's last one): spread over the demo city's 540 unit grids, 20 catalog categories, the open
states with their stage and time limit from the catalog, some suspended (clock stopped). The clock
instants (``yellow_at``, ``deadline``) are placed directly around the sweep times, in plain time, so
that exactly the fractions above cross on each sweep; the rest are already yellow or red from earlier
sweeps, or still green. The sweep compares only those stored instants, never the calendar.

The two UPDATEs are EXPLAINed (the steady one with ANALYZE: it changes nothing) to show that they
use the partial indexes ``ix_cases_red_due`` and ``ix_cases_yellow_due``.

    .venv/bin/python bench/sweep.py [--open-cases 100000]

Progress goes to stderr; the last line of stdout is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import h3
import numpy as np
import shapely
import uuid_utils
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.cases import clock as clocks
from backend.cases.service import OPEN_STATES
from backend.cases.sweep import SweepResult, sweep
from backend.db import create_engine, create_session_factory, transaction
from backend.embedded import EmbeddedServices, free_port
from backend.models import Case, Category, Department
from backend.seed.demo import demo_layout

CATEGORIES = [
    "E0101", "E0102", "E0511", "E0201", "E0601", "E0502", "E0105", "E0107", "E0113", "E0204",
    "E0302", "E0404", "E0603", "E0205", "E0203", "E0110", "E0112", "E0508", "E0305", "E0606",
]  # fmt: skip
# state: (share of open cases, stage, stage_seq, the history of (action, state reached))
STATES: dict[str, tuple[float, str, int, list[tuple[str, str]]]] = {
    "reported": (0.22, "accept", 1, [("report", "reported")]),
    "verifying": (0.04, "accept", 1, [("report", "reported"), ("verify_request", "verifying")]),
    "accepted": (0.08, "dispatch", 2, [("report", "reported"), ("accept", "accepted")]),
    "dispatched": (0.18, "dispose", 3, [("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched")]),
    "disposing": (0.33, "dispose", 3, [
        ("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing"),
    ]),
    "disposed": (0.12, "check", 4, [
        ("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing"),
        ("finish", "disposed"),
    ]),
    "suspended": (0.03, "dispose", 3, [
        ("report", "reported"), ("accept", "accepted"), ("dispatch", "dispatched"), ("take", "disposing"),
        ("suspend", "suspended"),
    ]),
}  # fmt: skip

# The sweeps, relative to T0 (the last sweep before the bench: every light is right as of T0).
REALISTIC_AT = timedelta(seconds=60)  # T1: 2 % turn yellow, 1 % turn red in (T0, T1]
STEADY_AFTER_AT = timedelta(seconds=90)  # T2: nothing in (T1, T2]
WORST_AT = timedelta(seconds=150)  # T3: 6 % yellow, 4 % red in (T2, T3]
# What each running clock does (shares of the running clocks; suspended cases have none).
CLOCK_MIX = {
    "yellow_at_t1": 0.02,
    "red_at_t1": 0.01,
    "yellow_at_t3": 0.06,
    "red_at_t3": 0.04,
    "already_yellow": 0.10,
    "already_red": 0.08,
}
CLOCK_MIX["green"] = 1.0 - sum(CLOCK_MIX.values())

CASE_COLUMNS = [
    "id", "number", "source", "kind", "category_code", "urgency", "state", "suspended_from", "description",
    "address", "lat", "lng", "cell", "grid_code", "community_code", "street_code", "district_code", "answers",
    "photos", "reporter_kind", "reporter_id", "main_department_id", "assist_department_ids",
    "dispatch_candidates", "stage", "stage_seq", "stage_unit", "stage_limit", "stage_started_at", "stage_consumed",
    "segment_started_at", "yellow_at", "deadline", "light", "returns", "reworks", "extensions", "reopens",
    "version", "created_at", "updated_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "case_id", "seq", "action", "from_state", "to_state", "actor_kind", "actor_id", "actor_role",
    "department_id", "note", "attachments", "data", "stage", "created_at",
]  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the open cases -------------------------------------------------------------------------------------


def city_points(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(grid code, lat, lng) of ``n`` points, each inside its grid; busy grids get many more."""
    grids = demo_layout().grids
    polygons = np.array([g.polygon for g in grids], dtype=object)
    shapely.prepare(polygons)
    bounds = shapely.bounds(polygons)
    weights = rng.lognormal(0.0, 1.0, len(grids))
    grid = rng.choice(len(grids), size=n, p=weights / weights.sum())
    lat = np.empty(n)
    lng = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        b = bounds[grid[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        inside = shapely.contains_xy(polygons[grid[todo]], x, y)
        lng[todo[inside]] = x[inside]
        lat[todo[inside]] = y[inside]
        todo = todo[~inside]
    return [grids[int(i)].code for i in grid], lat, lng


@dataclass
class Expected:
    realistic: SweepResult
    worst: SweepResult
    running: int


def _instants(kind: str, t0: datetime, total: float, rng: np.random.Generator) -> tuple[datetime, datetime, str]:
    """(yellow_at, deadline, light as of T0) for a clock of ``total`` seconds that does ``kind``."""
    yellow_part = timedelta(seconds=total * clocks.YELLOW_AT)
    red_part = timedelta(seconds=total * (1 - clocks.YELLOW_AT))
    # Clocks short enough to cross both thresholds between T0 and T3 do not exist (the shortest limit,
    # half a working hour, leaves six minutes between yellow and red), so each crossing is a single flip.
    if kind == "yellow_at_t1":
        yellow_at = t0 + timedelta(seconds=float(rng.uniform(0.001, REALISTIC_AT.total_seconds())))
        return yellow_at, yellow_at + red_part, "green"
    if kind == "red_at_t1":
        deadline = t0 + timedelta(seconds=float(rng.uniform(0.001, REALISTIC_AT.total_seconds())))
        return deadline - red_part, deadline, "yellow"
    window = (WORST_AT - STEADY_AFTER_AT).total_seconds()
    if kind == "yellow_at_t3":
        yellow_at = t0 + STEADY_AFTER_AT + timedelta(seconds=float(rng.uniform(0.001, window)))
        return yellow_at, yellow_at + red_part, "green"
    if kind == "red_at_t3":
        deadline = t0 + STEADY_AFTER_AT + timedelta(seconds=float(rng.uniform(0.001, window)))
        return deadline - red_part, deadline, "yellow"
    if kind == "already_yellow":
        # Turned yellow before T0 and stays yellow past the worst sweep.
        latest = red_part.total_seconds() - WORST_AT.total_seconds() - 1.0
        yellow_at = t0 - timedelta(seconds=float(rng.uniform(1.0, latest)))
        return yellow_at, yellow_at + red_part, "yellow"
    if kind == "already_red":
        deadline = t0 - timedelta(seconds=float(rng.uniform(1.0, 48 * 3600.0)))
        return deadline - red_part, deadline, "red"
    # green: the yellow instant lies beyond the worst sweep, up to the whole yellow part away.
    lead = max(WORST_AT.total_seconds() + 60.0, float(rng.uniform(0.0, yellow_part.total_seconds())))
    yellow_at = t0 + timedelta(seconds=lead)
    return yellow_at, yellow_at + red_part, "green"


def generate(
    n: int,
    t0: datetime,
    rng: np.random.Generator,
    time_limits: dict[str, dict[str, Any]],
    departments: list[uuid.UUID],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Expected]:
    codes, lat, lng = city_points(rng, n)
    categories = rng.choice(CATEGORIES, size=n, p=_zipf(len(CATEGORIES)))
    names = list(STATES)
    states = rng.choice(len(names), size=n, p=[STATES[s][0] for s in names])
    kinds = rng.choice(list(CLOCK_MIX), size=n, p=list(CLOCK_MIX.values()))
    cases: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    counts = {k: 0 for k in CLOCK_MIX}
    running = 0
    for i in range(n):
        state = names[int(states[i])]
        _, stage, stage_seq, history = STATES[state]
        category = str(categories[i])
        limit = time_limits[category][stage]
        total = clocks.limit_seconds(float(limit["amount"]), limit["unit"])
        if state == "suspended":
            yellow_at: datetime | None = None
            deadline: datetime | None = None
            light = "green"
            started = t0 - timedelta(hours=float(rng.uniform(1, 60)))
            segment: datetime | None = None
            consumed = float(rng.uniform(0.1, 0.7)) * total
        else:
            kind = str(kinds[i])
            counts[kind] += 1
            running += 1
            yellow_at, deadline, light = _instants(kind, t0, total, rng)
            started = deadline - timedelta(seconds=total)
            segment = started
            consumed = 0.0
        created = min(started, t0) - timedelta(minutes=float(rng.uniform(5, 600)))
        case_id = uuid_utils.uuid7()  # asyncpg takes anything with ``.bytes``; stdlib UUIDs are slow to build
        code = codes[i]
        department = departments[i % len(departments)] if stage_seq >= 3 else None
        cases.append(
            (
                case_id, f"S{i:012d}", "citizen", "promise", category, "normal", state,
                "disposing" if state == "suspended" else None, "路边堆了很多垃圾", "", float(lat[i]), float(lng[i]),
                h3.str_to_int(h3.latlng_to_cell(lat[i], lng[i], 10)), code, code[:12], code[:9], code[:6], "{}",
                [], "citizen", f"bench-citizen-{i % 20_000}", department, [], "[]",
                stage, stage_seq, limit["unit"], float(limit["amount"]), started, consumed, segment, yellow_at,
                deadline, light, 0, 0, 0, 0, len(history), created, t0,
            )
        )  # fmt: skip
        step = (min(started, t0) - created) / max(1, len(history) - 1)
        previous: str | None = None
        for seq, (action, to_state) in enumerate(history, start=1):
            events.append(
                (
                    uuid_utils.uuid7(), case_id, seq, action, previous, to_state,
                    "citizen" if seq == 1 else "staff", None, "citizen" if seq == 1 else "seat",
                    department if seq > 3 else None, "", [], "{}", None,
                    created + step * (seq - 1),
                )
            )  # fmt: skip
            previous = to_state
    expected = Expected(
        realistic=SweepResult(yellow=counts["yellow_at_t1"], red=counts["red_at_t1"]),
        worst=SweepResult(yellow=counts["yellow_at_t3"], red=counts["red_at_t3"]),
        running=running,
    )
    return cases, events, expected


def _zipf(n: int) -> np.ndarray[Any, Any]:
    weights = np.arange(1, n + 1, dtype=float) ** -0.8
    return weights / weights.sum()


async def bulk_load(dsn: str, cases: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("cases", records=cases, columns=CASE_COLUMNS)
            await conn.copy_records_to_table("case_events", records=events, columns=EVENT_COLUMNS)
        await conn.execute("VACUUM ANALYZE cases")
        await conn.execute("VACUUM ANALYZE case_events")
    finally:
        await conn.close()


# --- sweeping and explaining ------------------------------------------------------------------------------


@dataclass
class SweepRun:
    """One timed sweep: how long it took (with its commit), what it flipped or why it failed, and the
    statements it sent with their parameters and times."""

    seconds: float
    result: SweepResult | None
    error: str | None
    statements: list[tuple[str, tuple[Any, ...], float]]

    @property
    def db_seconds(self) -> float:
        return sum(t for _, _, t in self.statements)


async def timed_sweep(factory: async_sessionmaker[AsyncSession], engine: AsyncEngine, now: datetime) -> SweepRun:
    statements: list[tuple[str, tuple[Any, ...], float]] = []
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        started[id(conn)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        took = time.perf_counter() - started.pop(id(conn), time.perf_counter())
        statements.append((statement, tuple(parameters or ()), took))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    result: SweepResult | None = None
    error: str | None = None
    start = time.perf_counter()
    try:
        async with transaction(factory) as session:
            result = await sweep(session, now=now)
    except Exception as exc:  # a failed sweep is a figure too: report it, do not hide it
        cause = getattr(exc, "orig", None) or exc
        error = f"{type(cause).__name__}: {str(cause).splitlines()[0][:200]}"
    finally:
        elapsed = time.perf_counter() - start
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)
    return SweepRun(elapsed, result, error, statements)


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)


def describe_plan(plan: dict[str, Any]) -> str:
    """``Update on cases <- Index Scan using ix_cases_red_due`` — the node types, top down."""
    parts = []
    for node in _walk(plan):
        text = node["Node Type"]
        if node["Node Type"] == "ModifyTable":
            text = f"{node.get('Operation', 'Modify')} on {node.get('Relation Name', '?')}"
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        parts.append(text)
    return " <- ".join(parts)


async def explain(dsn: str, statement: str, params: tuple[Any, ...], *, analyze: bool) -> tuple[str, float | None]:
    """The plan of one captured UPDATE; with ``analyze`` it runs (inside a transaction rolled back)."""
    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
            raw = await conn.fetchval(f"EXPLAIN ({options}) {statement}", *params)
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    document = json.loads(raw) if isinstance(raw, str) else raw
    plan = document[0]["Plan"]
    runtime = document[0].get("Execution Time") if analyze else None
    return describe_plan(plan), runtime


def with_now(params: tuple[Any, ...], now: datetime) -> tuple[Any, ...]:
    """The same statement's parameters for a sweep at ``now`` (its only instants are ``now``)."""
    return tuple(now if isinstance(p, datetime) else p for p in params)


def _updates(run: SweepRun) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The sweep's one statement (an UPDATE over both partial indexes inside a data-modifying CTE)."""
    for statement, params, _ in run.statements:
        if "UPDATE CASES" in statement.upper():
            return {"sweep": (statement, params)}
    raise SystemExit(f"expected the sweep's statement, captured: {[s[:40] for s, _, _ in run.statements]}")


def describe_run(run: SweepRun) -> str:
    by_kind: dict[str, tuple[int, float]] = {}
    for statement, _, took in run.statements:
        words = statement.split()
        kind = " ".join(words[:3]) if words[0].upper() in {"INSERT", "UPDATE"} else words[0]
        count, total = by_kind.get(kind, (0, 0.0))
        by_kind[kind] = (count + 1, total + took)
    parts = [f"{count}× {kind} {total * 1000:.0f} ms" for kind, (count, total) in by_kind.items()]
    outcome = run.error or str(run.result)
    return f"{run.seconds * 1000:.1f} ms → {outcome}; {len(run.statements)} statements: " + "; ".join(parts)


# --- main -------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, settings: Any, dsn: str) -> dict[str, Any]:
    from backend.seed.demo import seed_demo

    log("seeding the demo city …")
    await seed_demo(settings)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    rng = np.random.default_rng(2026)
    try:
        async with factory() as session:
            rows = (await session.scalars(select(Category).where(Category.code.in_(CATEGORIES)))).all()
            time_limits = {c.code: c.time_limits["normal"] for c in rows}
            if len(time_limits) != len(CATEGORIES):
                raise SystemExit(f"categories missing from the catalog: {set(CATEGORIES) - set(time_limits)}")
            departments = list(
                (await session.scalars(select(Department.id).where(Department.kind != "command_center"))).all()
            )

        t0 = datetime.now(UTC).replace(microsecond=0)
        log(f"generating {args.open_cases:,} open cases …")
        start = time.perf_counter()
        cases, events, expected = generate(args.open_cases, t0, rng, time_limits, departments)
        log(f"  generated in {time.perf_counter() - start:.1f} s; COPYing {len(cases):,} cases and their events …")
        start = time.perf_counter()
        await bulk_load(dsn, cases, events)
        log(f"  loaded, vacuumed and analysed in {time.perf_counter() - start:.1f} s")
        del cases, events
        async with factory() as session:
            open_cases = await session.scalar(select(func.count()).select_from(Case).where(Case.state.in_(OPEN_STATES)))

        # The machine may be shared: its load while sweeping goes with the figures.
        load_before = os.getloadavg()[0]
        log(f"steady state (nothing crosses), 7 sweeps at T0 (load average {load_before:.1f}) …")
        steady_runs = [await timed_sweep(factory, engine, t0) for _ in range(7)]
        if any(r.result != SweepResult(0, 0) for r in steady_runs):
            raise SystemExit(f"a steady sweep flipped lights: {[r.result or r.error for r in steady_runs]}")
        steady_s = statistics.median(r.seconds for r in steady_runs[1:])  # the first one warms the caches
        log(f"  median {steady_s * 1000:.2f} ms (runs: {', '.join(f'{r.seconds * 1000:.1f}' for r in steady_runs)} ms)")
        log(f"  {describe_run(steady_runs[-1])}")

        updates = _updates(steady_runs[0])
        plans: dict[str, str] = {}
        steady_exec_ms: dict[str, float | None] = {}
        for light, (statement, params) in updates.items():
            plans[f"steady_{light}"], steady_exec_ms[light] = await explain(dsn, statement, params, analyze=True)
            for name, offset in (("realistic", REALISTIC_AT), ("worst", WORST_AT)):
                plans[f"{name}_{light}"], _ = await explain(
                    dsn, statement, with_now(params, t0 + offset), analyze=False
                )
        for key, plan in plans.items():
            log(f"  plan {key}: {plan}")

        log(f"realistic sweep at T0+{REALISTIC_AT.seconds} s (expect {expected.realistic}) …")
        realistic = await timed_sweep(factory, engine, t0 + REALISTIC_AT)
        log(f"  {describe_run(realistic)}")
        log(f"steady again at T0+{STEADY_AFTER_AT.seconds} s …")
        after = [await timed_sweep(factory, engine, t0 + STEADY_AFTER_AT) for _ in range(3)]
        steady_after_s = statistics.median(r.seconds for r in after)
        log(f"  median {steady_after_s * 1000:.2f} ms: {after[-1].result or after[-1].error}")
        log(f"worst sweep at T0+{WORST_AT.seconds} s (expect {expected.worst}) …")
        worst = await timed_sweep(factory, engine, t0 + WORST_AT)
        log(f"  {describe_run(worst)}")
        for name, run, want in (("realistic", realistic, expected.realistic), ("worst", worst, expected.worst)):
            if run.error is None and run.result != want:
                raise SystemExit(f"the {name} sweep flipped {run.result}, expected {want}")
    finally:
        await engine.dispose()

    uses_partial_indexes = all("ix_cases_red_due" in plan and "ix_cases_yellow_due" in plan for plan in plans.values())

    def seconds(run: SweepRun) -> float | None:
        return round(run.seconds, 4) if run.error is None else None

    return {
        "open_cases": int(open_cases or 0),
        "running_clocks": expected.running,
        "sweep_s": seconds(realistic),
        "sweep_yellow": expected.realistic.yellow,
        "sweep_red": expected.realistic.red,
        "sweep_statements": len(realistic.statements),
        "sweep_db_s": round(realistic.db_seconds, 4),
        "sweep_error": realistic.error,
        "steady_sweep_s": round(steady_s, 5),
        "steady_after_sweep_s": round(steady_after_s, 5),
        "worst_sweep_s": seconds(worst),
        "worst_yellow": expected.worst.yellow,
        "worst_red": expected.worst.red,
        "worst_sweep_statements": len(worst.statements),
        "worst_sweep_error": worst.error,
        "worst_sweep_failed_after_s": round(worst.seconds, 4) if worst.error else None,
        "steady_sweep_exec_ms": steady_exec_ms["sweep"],
        "plans": plans,
        "uses_partial_indexes": uses_partial_indexes,
        "loadavg_1m": round(max(load_before, os.getloadavg()[0]), 1),
        "cores": os.cpu_count(),
        "target_s": 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open-cases", type=int, default=100_000)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="chengguan-bench-sweep-"))
    services = EmbeddedServices(
        root, pg_port=free_port(), redis_port=free_port(), s3_port=free_port(), want_redis=False, want_s3=False
    )
    try:
        log(f"starting PostgreSQL under {root} …")
        env = services.start()
        os.environ.update(env)
        os.environ.setdefault("LOG_LEVEL", "warning")
        from backend.cli import run_migrations
        from backend.settings import get_settings, reset_settings_cache

        reset_settings_cache()
        log("migrating …")
        run_migrations(env["DATABASE_URL"])
        dsn = env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        figures = asyncio.run(bench(args, get_settings(), dsn))
    finally:
        log("stopping PostgreSQL and removing its data …")
        services.remove_data()

    def shown(key: str) -> str:
        value = figures[f"{key}_s"]
        return f"{value * 1000:.0f} ms" if value is not None else f"FAILED ({figures[f'{key}_error']})"

    print(
        f"sweep over {figures['open_cases']:,} open cases with {figures['sweep_yellow']:,} turning yellow and "
        f"{figures['sweep_red']:,} red: {shown('sweep')}; steady {figures['steady_sweep_s'] * 1000:.1f} ms; "
        f"worst ({figures['worst_yellow'] + figures['worst_red']:,} cross): {shown('worst_sweep')}"
    )
    print(f"partial indexes used by both UPDATEs in every case: {figures['uses_partial_indexes']}; target < 1 s")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
