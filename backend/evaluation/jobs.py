"""The daily rollup of evaluation measures (评价日汇总), kept by the worker and rebuilt by hand.

A day is rolled up by deleting its rows and inserting them again from the events, in one transaction
under a per-day advisory lock — rerunning it, or running it from two places at once, gives the same rows.

The worker's cron (every 10 minutes) rolls up yesterday and today, plus every day that received an
event since its last run: an offline field app may sync an event dated up to days back. Which events
are new is told by their ids: UUIDv7 carries the moment the row was written, whatever ``created_at``
says (the sweep's events, with ids from the database, are always dated now).
``chengguan evaluation recompute --from --to`` rebuilds any range (a deployment runs it once over the
history; evaluation computes any day the rollup lacks from the events meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from arq import cron
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import transaction
from backend.evaluation.facts import insert_rollup_sql
from backend.evaluation.rules import Period, shanghai_day
from backend.models import EvaluationDay

log = logging.getLogger("chengguan.evaluation")

LOCK_CLASS = 0x5E7A_0500  # pg_advisory_xact_lock(class, day) — one lock per rolled-up day
# Events committed this long after their row was written are still found by the next run (a request's
# transaction is far shorter than this).
LATE_COMMIT_MARGIN = timedelta(minutes=15)


@dataclass(frozen=True)
class RollupResult:
    days: int
    rows: int
    events: int
    seconds: float


def uuid7_floor(instant: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of ``instant``'s millisecond: ids at or above it were written at or after it."""
    ms = int(instant.timestamp() * 1000)
    return uuid.UUID(bytes=ms.to_bytes(6, "big") + bytes(10))


def contiguous(days: Iterable[date]) -> list[Period]:
    """Days grouped into runs of consecutive days."""
    out: list[Period] = []
    for day in sorted(set(days)):
        if out and out[-1].end + timedelta(days=1) == day:
            out[-1] = Period(out[-1].start, day)
        else:
            out.append(Period(day, day))
    return out


async def rollup(session: AsyncSession, period: Period) -> RollupResult:
    """Rebuild the rollup of every day of ``period`` in the caller's transaction."""
    started = time.perf_counter()
    # A lock per day, taken in day order: two rollups of the same day queue (the second then rebuilds it
    # again, identically); rollups of different days run side by side.
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:class, (d::date - DATE '2000-01-01'))"
            " FROM generate_series(CAST(:d0 AS date), CAST(:d1 AS date), interval '1 day') AS d ORDER BY d"
        ),
        {"class": LOCK_CLASS, "d0": period.start, "d1": period.end},
    )
    t0, t1 = period.bounds()
    await session.execute(
        text("DELETE FROM evaluation_daily WHERE day >= :d0 AND day <= :d1"), {"d0": period.start, "d1": period.end}
    )
    inserted = await session.execute(text(insert_rollup_sql()), {"t0": t0, "t1": t1})
    counted = await session.scalars(
        text(
            "INSERT INTO evaluation_days (day, computed_at, events)"
            " SELECT d::date, now(), coalesce(c.n, 0)"
            " FROM generate_series(CAST(:d0 AS date), CAST(:d1 AS date), interval '1 day') AS d"
            " LEFT JOIN (SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n"
            "   FROM case_events WHERE created_at >= :t0 AND created_at < :t1 GROUP BY 1) AS c ON c.day = d::date"
            " ON CONFLICT (day) DO UPDATE SET computed_at = EXCLUDED.computed_at, events = EXCLUDED.events"
            " RETURNING events"
        ),
        {"d0": period.start, "d1": period.end, "t0": t0, "t1": t1},
    )
    events = sum(counted.all())
    rows = inserted.rowcount if isinstance(inserted.rowcount, int) else 0  # type: ignore[attr-defined]
    return RollupResult(period.days, rows, events, time.perf_counter() - started)


async def days_to_refresh(session: AsyncSession, now: datetime) -> list[date]:
    """Yesterday, today, and the days of events written since the last run began (less a margin)."""
    today = shanghai_day(now)
    days = {today - timedelta(days=1), today}
    last_run = await session.scalar(select(func.max(EvaluationDay.computed_at)))
    if last_run is not None:
        # Bounded on both sides: an id written by the database (gen_random_uuid(), v4 — the sweep's) is
        # random, and lands inside a window of hours of the 48-bit millisecond prefix practically never.
        # Those events are dated now anyway, so yesterday and today cover them.
        late = await session.scalars(
            text(
                "SELECT DISTINCT (created_at AT TIME ZONE 'Asia/Shanghai')::date FROM case_events"
                " WHERE id >= :floor AND id < :ceiling"
            ),
            {"floor": uuid7_floor(last_run - LATE_COMMIT_MARGIN), "ceiling": uuid7_floor(now + LATE_COMMIT_MARGIN)},
        )
        days |= set(late.all())
    return sorted(days)


async def rollup_recent(session: AsyncSession, now: datetime | None = None) -> RollupResult:
    """The cron's work, in the caller's transaction."""
    now = now or datetime.now(UTC)
    total = RollupResult(0, 0, 0, 0.0)
    for part in contiguous(await days_to_refresh(session, now)):
        done = await rollup(session, part)
        total = RollupResult(
            total.days + done.days, total.rows + done.rows, total.events + done.events, total.seconds + done.seconds
        )
    return total


async def rollup_evaluation(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq cron: keep the rollup of the recent days current (idempotent)."""
    runtime = ctx["runtime"]
    async with transaction(runtime.session_factory) as session:
        result = await rollup_recent(session)
    log.info("evaluation rollup: %s days, %s rows in %.2f s", result.days, result.rows, result.seconds)
    return {"days": result.days, "rows": result.rows, "events": result.events}


CRON_JOBS = [cron(rollup_evaluation, minute=set(range(0, 60, 10)), second={40}, unique=True, timeout=1800)]


async def recompute(
    factory: async_sessionmaker[AsyncSession],
    period: Period,
    *,
    chunk_days: int = 7,
    parallel: int = 1,
    progress: Callable[[Period, RollupResult, int, int], None] = lambda *_: None,
) -> RollupResult:
    """Rebuild the rollup of ``period`` a chunk of days per transaction, ``parallel`` chunks at a time (each
    on its own connection), reporting each chunk as it is done."""
    if chunk_days < 1 or parallel < 1:
        raise ValueError("chunk_days and parallel must be at least 1")
    chunks = []
    start = period.start
    while start <= period.end:
        end = min(period.end, start + timedelta(days=chunk_days - 1))
        chunks.append(Period(start, end))
        start = end + timedelta(days=1)
    results: list[RollupResult] = []
    slots = asyncio.Semaphore(parallel)

    async def one(chunk: Period) -> None:
        async with slots:
            async with transaction(factory) as session:
                done = await rollup(session, chunk)
            results.append(done)
            progress(chunk, done, len(results), len(chunks))

    await asyncio.gather(*(one(chunk) for chunk in chunks))
    return RollupResult(
        sum(r.days for r in results), sum(r.rows for r in results), sum(r.events for r in results),
        sum(r.seconds for r in results),
    )  # fmt: skip
