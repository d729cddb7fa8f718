"""综合评价 over 1,000,000 cases: one month × all departments from the daily rollup, and from the raw events.

Generates a city's three months of cases (2026-08-01 … 2026-10-31) with their events — reports from
citizens, collectors, hotline seats and inspections over the demo city's 540 grids (some far busier than
others), 40 departments, and the usual lives: disposed and checked, reworked, returned and re-dispatched,
extended and suspended, overdue (with the sweep's event), verified first, rejected, closed on the spot,
merged, reopened, still open; ratings from citizens. Per-case choices are drawn with numpy; the rows are
written as CSV in tight loops and loaded with COPY through asyncpg (foreign-key triggers off for the load,
as for any bulk load of rows known to be consistent).

Then: ``chengguan evaluation recompute`` of the three months (``jobs.recompute``, a week per transaction),
and the timings of October × all departments — from the rollup (``Source.rollup``) and from the events
(``Source.raw``, the pool carried over from August and September included) — checked to agree.

    .venv/bin/python bench/evaluation.py [--cases 1000000] [--repeat 5]

Starts its own PostgreSQL in a temporary folder and removes it afterwards. Progress goes to stderr; the
last line of stdout is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from backend.embedded import EmbeddedServices, free_port

START_DAY = date(2026, 8, 1)
DAYS = 92  # August, September, October
MONTH = date(2026, 10, 1)
DEPARTMENTS = 40
SEATS, DISPATCHERS, COLLECTORS_PER_GRIDS = 20, 10, 3
CATEGORIES = ["E0101", "E0102", "E0511", "E0201", "E0601", "E0502", "E0105", "E0107", "C0301", "E0204"]

# The lives a case takes: (share, steps). A step is (action, from state, actor, mean minutes after the step
# before). Actors: rep (the reporter), seat, disp (a dispatcher), sys (the system), hand (the department's
# handler), coll (the grid's collector), lead (a shift lead), cit (the citizen).
Step = tuple[str, str, str, float]
_DISPOSE: list[Step] = [
    ("accept", "reported", "seat", 25), ("dispatch", "accepted", "sys", 0), ("take", "dispatched", "hand", 40),
    ("finish", "disposing", "hand", 150),
]  # fmt: skip
LIVES: list[tuple[float, list[Step]]] = [
    (0.44, [*_DISPOSE, ("check_pass", "disposed", "coll", 120)]),
    (0.07, [*_DISPOSE, ("check_fail", "disposed", "coll", 90), ("take", "dispatched", "hand", 60),
            ("finish", "disposing", "hand", 120), ("check_pass", "disposed", "coll", 100)]),
    (0.06, [("accept", "reported", "seat", 30), ("dispatch", "accepted", "disp", 20),
            ("return", "dispatched", "hand", 60), ("dispatch", "accepted", "disp", 30),
            ("take", "dispatched", "hand", 40), ("finish", "disposing", "hand", 200),
            ("check_pass", "disposed", "coll", 120)]),
    (0.04, [*_DISPOSE[:3], ("request_extension", "disposing", "hand", 300),
            ("approve_extension", "disposing", "lead", 60), ("suspend", "disposing", "lead", 60),
            ("resume", "suspended", "lead", 1500), ("finish", "disposing", "hand", 400),
            ("check_pass", "disposed", "coll", 120)]),
    (0.06, [*_DISPOSE[:3], ("overdue", "disposing", "sys", 300), ("finish", "disposing", "hand", 200),
            ("close", "disposed", "seat", 90)]),
    (0.06, [("verify_request", "reported", "seat", 10), ("verify_done", "verifying", "coll", 50), *_DISPOSE,
            ("check_pass", "disposed", "coll", 120)]),
    (0.06, [("reject", "reported", "seat", 30)]),
    (0.05, [("close_on_spot", "reported", "rep", 10)]),
    (0.03, [("merge", "reported", "seat", 20)]),
    (0.02, [*_DISPOSE, ("check_pass", "disposed", "coll", 120), ("reopen", "closed", "cit", 1500),
            ("dispatch", "reopened", "sys", 0)]),
    (0.11, [*_DISPOSE[:3]]),
]  # fmt: skip
TO_STATE = {
    "accept": "accepted", "dispatch": "dispatched", "take": "disposing", "finish": "disposed", "check_pass": "closed",
    "check_fail": "dispatched", "return": "accepted", "request_extension": "disposing",
    "approve_extension": "disposing", "suspend": "suspended", "resume": "disposing", "overdue": "disposing",
    "close": "closed", "verify_request": "verifying",
    "verify_done": "reported", "reject": "rejected", "close_on_spot": "closed", "merge": "merged", "reopen": "reopened",
    "rate": "closed",
}  # fmt: skip
ROLES = {"seat": "seat", "disp": "dispatcher", "sys": "system", "hand": "handler", "coll": "collector",
         "lead": "shift_lead", "cit": "citizen"}  # fmt: skip
STAGE = {"reported": "accept", "verifying": "accept", "accepted": "dispatch", "reopened": "dispatch",
         "dispatched": "dispose", "disposing": "dispose", "disposed": "check"}  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def uid(kind: int, n: int) -> str:
    """A readable, unique UUID per kind of row (1 case, 2 event, 3 department, 4 staff)."""
    return f"{kind:08x}-0000-7000-8000-{n:012x}"


@dataclass
class City:
    grids: list[tuple[str, str, str, str, float, float]]  # code, community, street, district, lat, lng
    departments: list[str]
    seats: list[str]
    dispatchers: list[str]
    leads: list[str]
    handlers: list[str]  # one per department
    collectors: list[str]  # one per COLLECTORS_PER_GRIDS grids


async def setup_city(dsn: str) -> City:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT code, community_code, street_code, district_code, (min_lat + max_lat) / 2 AS lat,"
            " (min_lng + max_lng) / 2 AS lng FROM grids ORDER BY code"
        )
        grids = [
            (r["code"], r["community_code"], r["street_code"], r["district_code"], r["lat"], r["lng"]) for r in rows
        ]
        departments = [uid(3, i) for i in range(DEPARTMENTS)]
        await conn.executemany(
            "INSERT INTO departments (id, code, name, kind, district_code, active)"
            " VALUES ($1, $2, $3, 'professional', '420117', true)",
            [(d, f"BENCH-{i:02d}", f"压测部门{i:02d}") for i, d in enumerate(departments)],
        )
        staff: list[tuple[str, str, str, list[str], str | None, list[str]]] = []
        seats = [uid(4, i) for i in range(SEATS)]
        dispatchers = [uid(4, 100 + i) for i in range(DISPATCHERS)]
        leads = [uid(4, 200 + i) for i in range(3)]
        handlers = [uid(4, 300 + i) for i in range(DEPARTMENTS)]
        collectors = [uid(4, 1000 + i) for i in range(len(grids) // COLLECTORS_PER_GRIDS)]
        staff += [(s, f"bseat{i}", f"受理员{i}", ["seat"], None, []) for i, s in enumerate(seats)]
        staff += [(s, f"bdisp{i}", f"派遣员{i}", ["dispatcher"], None, []) for i, s in enumerate(dispatchers)]
        staff += [
            (s, f"blead{i}", f"值班长{i}", ["shift_lead", "seat", "dispatcher"], None, []) for i, s in enumerate(leads)
        ]
        staff += [(s, f"bhand{i}", f"处置员{i}", ["handler"], departments[i], []) for i, s in enumerate(handlers)]
        staff += [
            (s, f"bcoll{i}", f"采集员{i}", ["collector"], None,
             [g[0] for g in grids[i * COLLECTORS_PER_GRIDS : (i + 1) * COLLECTORS_PER_GRIDS]])
            for i, s in enumerate(collectors)
        ]  # fmt: skip
        await conn.executemany(
            "INSERT INTO staff (id, username, name, password_hash, roles, department_id, grid_codes, active)"
            " VALUES ($1, $2, $3, 'x', $4, $5, $6, true)",
            staff,
        )
    finally:
        await conn.close()
    return City(grids, departments, seats, dispatchers, leads, handlers, collectors)


@dataclass
class Generated:
    cases: int = 0
    events: int = 0
    seconds: float = 0.0


def generate_chunk(city: City, first: int, m: int, seed: int) -> tuple[str, str, int]:
    """The CSV of cases ``first`` … ``first + m − 1`` and of their events, and the number of events. numpy
    draws every choice and every instant (per life, for all its cases at once); the loops only join
    prepared strings. Runs in a worker process while the main one COPYs the previous chunk."""
    rng = np.random.default_rng([seed, first])
    events = 0
    weights = np.random.default_rng(seed).pareto(1.2, len(city.grids)) + 0.2
    weights /= weights.sum()
    epoch0 = int(datetime.combine(START_DAY, datetime.min.time(), UTC).timestamp()) - 8 * 3600  # Shanghai midnight
    shares = np.array([s for s, _ in LIVES])
    reject_life = next(i for i, (_, steps) in enumerate(LIVES) if steps[0][0] == "reject")
    on_spot_life = next(i for i, (_, steps) in enumerate(LIVES) if steps[0][0] == "close_on_spot")
    grids = [(g[0], g[1], g[2], g[3], g[4], g[5]) for g in city.grids]
    grid_collector = [
        city.collectors[min(i // COLLECTORS_PER_GRIDS, len(city.collectors) - 1)] for i in range(len(grids))
    ]
    sources = ("citizen", "collector", "hotline_12345", "inspection")
    grid = rng.choice(len(grids), m, p=weights)
    source = rng.choice(4, m, p=[0.45, 0.35, 0.15, 0.05])
    life = rng.choice(len(LIVES), m, p=shares / shares.sum())
    life[(life == on_spot_life) & (source != 1)] = reject_life  # only collectors close on the spot
    start = epoch0 + rng.integers(0, DAYS, m) * 86400 + rng.integers(7 * 3600, 21 * 3600, m)
    columns = {
        "grid": grid, "source": source, "dept": rng.integers(0, DEPARTMENTS, m),
        "dept2": rng.integers(0, DEPARTMENTS, m), "seat": rng.integers(0, len(city.seats), m),
        "disp": rng.integers(0, len(city.dispatchers), m), "lead": rng.integers(0, len(city.leads), m),
        "category": rng.integers(0, len(CATEGORIES), m), "rating": rng.integers(1, 6, m),
        "rated": rng.random(m) < 0.4,
    }  # fmt: skip
    gaps = rng.exponential(1.0, (m, 12))
    late = rng.random((m, 12)) < 0.1
    case_lines: list[str] = []
    event_lines: list[str] = []
    for index, (_, steps) in enumerate(LIVES):
        chosen = np.nonzero(life == index)[0]
        if not len(chosen):
            continue
        k = len(steps)
        minutes = np.array([step[3] for step in steps])
        instants = np.concatenate(
            [start[chosen, None], start[chosen, None] + np.cumsum(60 + minutes * 60 * gaps[chosen, :k], axis=1)],
            axis=1,
        ).astype("int64")
        rate_at = instants[:, -1] + (3600 * (1 + 20 * gaps[chosen, 11])).astype("int64")
        stamps = np.datetime_as_string(instants.astype("datetime64[s]"), unit="s").tolist()
        rate_stamps = np.datetime_as_string(rate_at.astype("datetime64[s]"), unit="s").tolist()
        lates = late[chosen, :k].tolist()
        col = {name: values[chosen].tolist() for name, values in columns.items()}
        for r, j in enumerate(chosen.tolist()):
            i = first + j
            case_id = f"00000001-0000-7000-8000-{i:012x}"
            g = grids[col["grid"][r]]
            src = sources[col["source"][r]]
            collector = grid_collector[col["grid"][r]]
            seat = city.seats[col["seat"][r]]
            rep_kind, rep_role, rep_id = {
                "citizen": ("citizen", "citizen", f"citizen-{i % 50000}"),
                "collector": ("staff", "collector", collector),
                "hotline_12345": ("staff", "seat", seat),
                "inspection": ("staff", "auditor", city.leads[col["lead"][r]]),
            }[src]
            actors = {
                "rep": f"{rep_kind},{rep_id},{rep_role}", "seat": f"staff,{seat},seat",
                "disp": f"staff,{city.dispatchers[col['disp'][r]]},dispatcher", "sys": "system,,system",
                "hand": f"staff,{city.handlers[col['dept'][r]]},handler", "coll": f"staff,{collector},collector",
                "lead": f"staff,{city.leads[col['lead'][r]]},shift_lead", "cit": f"citizen,{rep_id},citizen",
            }  # fmt: skip
            times = stamps[r]
            events += 1
            event_lines.append(
                f"00000002-0000-7000-8000-{first * 16 + events:012x},{case_id},1,report,,reported,{rep_kind},{rep_id},"
                f'{rep_role},"",{{}},"{{""source"": ""{src}"", ""similar"": []}}",accept,,{times[0]}+00\n'
            )
            department = ""
            dispatches = 0
            state = "reported"
            for step_no, (action, from_state, who, _) in enumerate(steps):
                events += 1
                data = "{}"
                if action == "dispatch":
                    dispatches += 1
                    first_pick = who == "disp" and dispatches == 1  # the dispatcher's first pick gets returned
                    department = city.departments[col["dept2"][r] if first_pick else col["dept"][r]]
                    data = f'"{{""department_id"": ""{department}""}}"'
                elif action == "return":
                    data = f'"{{""department_id"": ""{department}""}}"'
                if action in NO_CLOCK:
                    on_time = ""
                elif lates[r][step_no] or (action == "finish" and steps[step_no - 1][0] == "overdue"):
                    on_time = "f"
                else:
                    on_time = "t"
                state = TO_STATE[action]
                stage = "dispose" if action == "overdue" else STAGE.get(state, "")
                event_lines.append(
                    f"00000002-0000-7000-8000-{first * 16 + events:012x},{case_id},{step_no + 2},{action},{from_state},"
                    f'{state},{actors[who]},"",{{}},{data},{stage},{on_time},{times[step_no + 1]}+00\n'
                )
            closed_at = rating = ""
            if state == "closed":
                closed_at = times[-1] + "+00"
                if col["rated"][r] and rep_kind == "citizen":
                    events += 1
                    rating = str(col["rating"][r])
                    event_lines.append(
                        f"00000002-0000-7000-8000-{first * 16 + events:012x},{case_id},{len(steps) + 2},"
                        "rate,closed,closed,"
                        f'citizen,{rep_id},citizen,"",{{}},"{{""score"": {rating}}}",,,{rate_stamps[r]}+00\n'
                    )
            case_lines.append(
                f'{case_id},B{i:011d},{src},promise,{CATEGORIES[col["category"][r]]},normal,{state},"","",'
                f"{g[4] + 0.0001 * (j % 7 - 3):.6f},{g[5] + 0.0001 * (j % 5 - 2):.6f},{600000000000000000 + i},"
                f"{g[0]},{g[1]},{g[2]},{g[3]},{{}},{{}},{rep_kind},{rep_id},{department},{{}},[],0,0,green,0,0,0,0,1,"
                f"{closed_at},{rating},{times[0]}+00,{times[0]}+00\n"
            )
    return "".join(case_lines), "".join(event_lines), events


NO_CLOCK = {"request_extension", "approve_extension", "suspend", "resume", "overdue"}


CASE_COLUMNS = [
    "id", "number", "source", "kind", "category_code", "urgency", "state", "description", "address", "lat", "lng",
    "cell", "grid_code",
    "community_code", "street_code", "district_code", "answers", "photos", "reporter_kind", "reporter_id",
    "main_department_id", "assist_department_ids", "dispatch_candidates", "stage_seq", "stage_consumed", "light",
    "returns", "reworks", "extensions", "reopens", "version", "closed_at", "rating", "created_at", "updated_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "case_id", "seq", "action", "from_state", "to_state", "actor_kind", "actor_id", "actor_role", "note",
    "attachments", "data", "stage", "on_time", "created_at",
]  # fmt: skip


async def load(dsn: str, city: City, n: int, seed: int, chunk: int = 50_000) -> tuple[Generated, float]:
    """COPY chunk after chunk while a worker process generates the next ones."""
    conn = await asyncpg.connect(dsn)
    loop = asyncio.get_running_loop()
    out = Generated()
    copy_seconds = 0.0
    began = time.perf_counter()
    try:
        # As for any bulk load of rows known to be consistent: no FK triggers, and the secondary indexes
        # built once afterwards instead of row by row.
        await conn.execute("SET session_replication_role = replica")
        secondary = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('cases', 'case_events')"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in secondary:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        starts = list(range(0, n, chunk))
        with ProcessPoolExecutor(max_workers=1) as pool:
            pending = [
                loop.run_in_executor(pool, generate_chunk, city, first, min(chunk, n - first), seed)
                for first in starts[:2]
            ]
            for position, first in enumerate(starts):
                cases_csv, events_csv, events = await pending[position]
                if position + 2 < len(starts):
                    ahead = starts[position + 2]
                    pending.append(loop.run_in_executor(pool, generate_chunk, city, ahead, min(chunk, n - ahead), seed))
                copying = time.perf_counter()
                for table, columns, text in (
                    ("cases", CASE_COLUMNS, cases_csv),
                    ("case_events", EVENT_COLUMNS, events_csv),
                ):
                    await conn.copy_to_table(table, source=io.BytesIO(text.encode()), columns=columns, format="csv")
                copy_seconds += time.perf_counter() - copying
                out.cases += min(chunk, n - first)
                out.events += events
                if position % 4 == 3 or position == len(starts) - 1:
                    log(f"  loaded {out.cases:,} cases, {out.events:,} events ({time.perf_counter() - began:.0f} s)")
        out.seconds = time.perf_counter() - began - copy_seconds
        log(f"building {len(secondary)} secondary indexes …")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for index in secondary:
            await conn.execute(index["indexdef"])
        log("vacuuming and analyzing …")
        for table in ("cases", "case_events"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()
    return out, copy_seconds


async def timed(work: Any, repeat: int) -> tuple[float, float, Any]:
    """(best, median) seconds of ``repeat`` runs of ``work()``, and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times), result


async def bench(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    from backend.db import create_engine, create_session_factory, transaction
    from backend.evaluation import jobs, service
    from backend.evaluation.rules import Granularity, Period
    from backend.evaluation.service import Source, View
    from backend.seed.demo import seed_demo_in
    from backend.settings import get_settings

    settings = get_settings()
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    total_began = time.perf_counter()
    try:
        log("seeding the demo city …")
        async with transaction(factory) as session:
            await seed_demo_in(session)
        city = await setup_city(dsn)
        log(
            f"generating and loading {args.cases:,} cases over {DAYS} days, {len(city.grids)} grids, "
            f"{DEPARTMENTS} departments …"
        )
        began = time.perf_counter()
        generated, copy_seconds = await load(dsn, city, args.cases, args.seed)
        load_seconds = time.perf_counter() - began
        log(f"  loaded in {load_seconds:.0f} s (COPY {copy_seconds:.0f} s)")

        log("recomputing the rollup of the three months (a week per transaction, two at a time) …")
        period = Period(START_DAY, START_DAY + timedelta(days=DAYS - 1))
        rollup_began = time.perf_counter()
        rollup = await jobs.recompute(
            factory, period, chunk_days=7, parallel=2,
            progress=lambda chunk, done, i, total: log(
                f"  [{i}/{total}] {chunk.start}…{chunk.end}: {done.events:,} events, {done.rows:,} rows "
                f"in {done.seconds:.1f} s"
            ),
        )  # fmt: skip
        rollup_seconds = time.perf_counter() - rollup_began
        month = Period.of(Granularity.month, MONTH)

        async def from_rollup() -> Any:
            async with factory() as session:
                return await service.evaluate(session, View.department, month, source=Source.rollup)

        async def from_events() -> Any:
            async with factory() as session:
                return await service.evaluate(session, View.department, month, source=Source.raw)

        log(f"evaluating {month.label} × all departments from the rollup ({args.repeat} runs) …")
        best, median, rolled = await timed(from_rollup, args.repeat)
        log(f"  best {best * 1000:.0f} ms, median {median * 1000:.0f} ms")
        log("… and from the raw events (once) …")
        raw_s, _, raw = await timed(from_events, 1)
        log(f"  {raw_s:.1f} s")
        same = [(r.subject_id, r.measures, r.composite) for r in rolled.rows] == [
            (r.subject_id, r.measures, r.composite) for r in raw.rows
        ]
        if not same:
            raise SystemExit("the rollup and the raw events disagree")
        views = {}
        for view in (View.district, View.street, View.grid, View.staff):

            async def run(view: View = view) -> Any:
                async with factory() as session:
                    return await service.evaluate(session, view, month, source=Source.rollup)

            views[view.value] = round((await timed(run, 1))[0], 3)
        log(f"  other views from the rollup: {views}")
        disposed = sum(r.measures.get("disposed", 0) for r in rolled.rows)
    finally:
        await engine.dispose()
    return {
        "cases": generated.cases,
        "events": generated.events,
        "departments": len(rolled.rows),
        "month_all_departments_s": round(median, 4),
        "month_all_departments_best_s": round(best, 4),
        "raw_month_all_departments_s": round(raw_s, 3),
        "raw_over_rollup": round(raw_s / median, 1),
        "rollup_equals_raw": same,
        "month_disposed": int(disposed),
        "other_views_s": views,
        "rollup_recompute_s": round(rollup_seconds, 1),
        "rollup_rows": rollup.rows,
        "copy_s": round(copy_seconds, 1),
        "load_s": round(load_seconds, 1),
        "total_s": round(time.perf_counter() - total_began, 1),
        "target_month_all_departments_s": 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261021)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="chengguan-bench-evaluation-"))
    services = EmbeddedServices(
        root, pg_port=free_port(), redis_port=free_port(), s3_port=free_port(), want_redis=False, want_s3=False
    )
    try:
        log(f"starting PostgreSQL under {root} …")
        env = services.start()
        os.environ.update(env)
        os.environ.setdefault("LOG_LEVEL", "warning")
        from backend.cli import run_migrations
        from backend.settings import reset_settings_cache

        reset_settings_cache()
        log("migrating …")
        run_migrations(env["DATABASE_URL"])
        dsn = env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        figures = asyncio.run(bench(args, dsn))
    finally:
        log("stopping PostgreSQL and removing its data …")
        services.remove_data()

    print(
        f"{figures['cases']:,} cases, {figures['events']:,} events: "
        f"{MONTH:%Y-%m} × {figures['departments']} departments "
        f"in {figures['month_all_departments_s'] * 1000:.0f} ms from the rollup (target < 1 s), "
        f"{figures['raw_month_all_departments_s']:.1f} s from the raw events ({figures['raw_over_rollup']}×)"
    )
    print(f"rollup of {DAYS} days recomputed in {figures['rollup_recompute_s']} s; whole run {figures['total_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
