"""``chengguan evaluation`` — the evaluation rollup by hand: rebuild any range of days exactly."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click

from backend.errors import DomainError

if TYPE_CHECKING:
    from backend.evaluation.jobs import RollupResult
    from backend.settings import Settings


@click.group(help="Evaluation (综合评价): the daily rollup of indicators.")
def evaluation() -> None:
    pass


@evaluation.command(
    "recompute",
    help="Rebuild the daily rollup of the days FROM–TO (Asia/Shanghai, both included) from the case events, "
    "a chunk of days per transaction. Without --from: from the first event; without --to: today. "
    "Safe to rerun and to run while the worker runs.",
)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day, YYYY-MM-DD.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day, YYYY-MM-DD.")
@click.option("--chunk-days", type=click.IntRange(1, 366), default=7, show_default=True, help="Days per transaction.")
@click.option(
    "--jobs", type=click.IntRange(1, 16), default=1, show_default=True, help="Chunks computed at once (connections)."
)
def recompute_cmd(start: datetime | None, end: datetime | None, chunk_days: int, jobs: int) -> None:
    from backend.cli import _load_settings, embedded_services

    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:
        try:
            first, last = (start.date() if start else None), (end.date() if end else None)
            result = asyncio.run(_recompute(settings, first, last, chunk_days, jobs))
        except DomainError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
    if result is None:
        click.echo("no case events yet: nothing to roll up")
        return
    click.echo(
        f"rolled up {result.days} days: {result.events:,} events, {result.rows:,} rows in {result.seconds:.1f} s"
    )


async def _recompute(
    settings: Settings, start: date | None, end: date | None, chunk_days: int, parallel: int
) -> RollupResult | None:
    from backend.db import create_engine, create_session_factory
    from backend.evaluation import jobs, service
    from backend.evaluation.rules import Period, shanghai_day

    engine = create_engine(settings)
    try:
        factory = create_session_factory(engine)
        if start is None:
            async with factory() as session:
                start = await service.first_event_day(session)
            if start is None:
                return None
        period = Period.between(start, end or shanghai_day(datetime.now(UTC)))
        began = time.perf_counter()

        def progress(chunk: Period, done: jobs.RollupResult, index: int, total: int) -> None:
            elapsed = time.perf_counter() - began
            click.echo(
                f"[{index}/{total}] {chunk.start}…{chunk.end}: {done.events:,} events, {done.rows:,} rows "
                f"in {done.seconds:.1f} s (elapsed {elapsed:.0f} s)",
                err=True,
            )

        return await jobs.recompute(factory, period, chunk_days=chunk_days, parallel=parallel, progress=progress)
    finally:
        await engine.dispose()
