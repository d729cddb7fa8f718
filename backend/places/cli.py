"""``chengguan toilets`` and ``chengguan parking`` — import toilets, rebuild the nearby indexes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import DomainError, ValidationFailed

T = TypeVar("T")


def _run(work: Callable[[AsyncSession, Redis], Awaitable[T]]) -> T:
    """Run ``work(session, redis)`` in one committed transaction against the configured (or embedded)
    services."""
    from backend.cli import _load_settings, embedded_services
    from backend.db import create_engine, create_session_factory, transaction
    from backend.redis import create_redis

    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:

        async def go() -> T:
            engine = create_engine(settings)
            assert settings.redis.url is not None
            redis = create_redis(settings.redis.url)
            try:
                async with transaction(create_session_factory(engine)) as session:
                    return await work(session, redis)
            finally:
                await redis.aclose()
                await engine.dispose()

        try:
            return asyncio.run(go())
        except ValidationFailed as exc:
            problems = (exc.details or {}).get("problems", []) if isinstance(exc.details, dict) else []
            lines = "\n".join(f"  {p['feature']}: {p['message']}" for p in problems[:50])
            raise click.ClickException(f"{exc.code}: {exc.message}" + (f"\n{lines}" if lines else "")) from None
        except DomainError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None


@click.group(help="Public toilets (公厕): import, the nearby index.")
def toilets() -> None:
    pass


@toilets.command("import", help="Create or update toilets (by code) from a CSV or GeoJSON file.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "geojson"]), default="auto", show_default=True)
def import_toilets(path: Path, fmt: str) -> None:
    from backend.toilets import service

    if fmt == "auto":
        fmt = "geojson" if path.suffix.lower() in {".geojson", ".json"} else "csv"
    text = path.read_text(encoding="utf-8-sig")
    if fmt == "geojson":
        try:
            collection = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path} is not JSON: {exc}") from None

    async def work(session: AsyncSession, redis: Redis) -> Any:
        result = (
            await service.import_geojson(session, collection)
            if fmt == "geojson"
            else await service.import_csv(session, text)
        )
        await session.commit()
        # The CLI has no after-commit hook: rebuild, which also tells API processes to reload.
        await service.INDEX.rebuild(session, redis)
        return result

    result = _run(work)
    click.echo(f"imported {result.total} toilets ({result.created} new, {result.updated} updated)")


@toilets.command("rebuild-index", help="Rebuild the Redis nearby index of toilets from PostgreSQL.")
def rebuild_toilets() -> None:
    from backend.toilets import service

    count = _run(lambda session, redis: service.INDEX.rebuild(session, redis))
    click.echo(f"toilet index rebuilt: {count} toilets")


@click.group(help="Parking (停车): the nearby index.")
def parking() -> None:
    pass


@parking.command("rebuild-index", help="Rebuild the Redis nearby index of parking lots from PostgreSQL.")
def rebuild_parking() -> None:
    from backend.parking import service

    count = _run(lambda session, redis: service.INDEX.rebuild(session, redis))
    click.echo(f"parking index rebuilt: {count} lots")
