"""``chengguan`` — everything an operator does by hand.

chengguan dev        embedded services + migrate + seed once + API/admin/worker on 127.0.0.1:8000
chengguan serve      production: granian with N workers against the configured services
chengguan worker     the arq worker
chengguan migrate    alembic upgrade (or `migrate --down REV`)
chengguan seed       the demo city (新洲区), idempotent
chengguan services   start/stop/status of the embedded services alone
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from backend.devices.cli import devices
from backend.errors import ConfigurationError
from backend.evaluation.cli import evaluation
from backend.org.cli import staff as staff_group
from backend.places.cli import parking as parking_group
from backend.places.cli import toilets as toilets_group
from backend.settings import Settings, get_settings, reset_settings_cache


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


@contextmanager
def embedded_services(settings: Settings, *, stop_on_exit: bool = True) -> Iterator[Settings]:
    """Start whichever of PostgreSQL, Redis and S3 has no URL configured, export their URLs to the
    environment (child processes inherit them) and yield settings that point at them."""
    if not settings.any_embedded:
        yield settings
        return
    from backend.embedded import EmbeddedError, EmbeddedServices

    services = EmbeddedServices(
        settings.app.data_dir / "services",
        want_db=settings.db.embedded,
        want_redis=settings.redis.embedded,
        want_s3=settings.storage.embedded,
    )
    click.echo(f"starting embedded services in {services.root} …", err=True)
    try:
        env = services.start()
    except EmbeddedError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ.update(env)
    reset_settings_cache()
    try:
        yield get_settings()
    finally:
        if stop_on_exit:
            click.echo("stopping embedded services …", err=True)
            services.stop()


def run_migrations(url: str, revision: str = "heads") -> None:
    from alembic import command

    from backend.migrations import alembic_config

    command.upgrade(alembic_config(url), revision)


def downgrade_migrations(url: str, revision: str) -> None:
    from alembic import command

    from backend.migrations import alembic_config

    command.downgrade(alembic_config(url), revision)


def _seed(settings: Settings, *, force: bool = False) -> bool:
    from backend.seed.demo import seed_demo

    return asyncio.run(seed_demo(settings, force=force, echo=lambda m: click.echo(m, err=True)))


@click.group(help=__doc__)
def main() -> None:
    pass


@main.command(help="Run everything for development: embedded services, migrations, demo seed, API, admin, worker.")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.option("--no-worker", is_flag=True, help="Do not start the arq worker.")
def dev(host: str | None, port: int | None, no_worker: bool) -> None:
    settings = _load_settings()
    with embedded_services(settings) as settings:
        assert settings.db.url is not None
        click.echo("migrating …", err=True)
        run_migrations(settings.db.url)
        _seed(settings)
        host = host or settings.app.host
        port = port or settings.app.port
        worker: subprocess.Popen[bytes] | None = None
        if not no_worker:
            worker = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker"], start_new_session=True)
        _banner(host, port)
        try:
            _granian(host, port, workers=1, reload=False)
        finally:
            if worker is not None:
                worker.terminate()
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()


def _banner(host: str, port: int) -> None:
    from backend.seed.demo import DEMO_LOGINS

    base = f"http://{host}:{port}"
    lines = [
        "",
        "chengguan is running:",
        f"  API docs     {base}/docs",
        f"  admin        {base}/admin",
        f"  health       {base}/healthz   {base}/readyz",
        f"  metrics      {base}/metrics",
        "demo logins (admin console and field app):",
        *[f"  {u:<12} {p:<16} {r}" for u, p, r in DEMO_LOGINS],
        "Ctrl-C stops the server and the embedded services.",
        "",
    ]
    click.echo("\n".join(lines), err=True)


def _granian(host: str, port: int, *, workers: int, reload: bool) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    Server(
        "app.main:create_asgi",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        reload=reload,
        log_access=False,
    ).serve()


@main.command(help="Serve the API and admin in production (granian, N worker processes).")
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--workers", default=None, type=int, help="Worker processes (default CHENGGUAN_WORKERS or 2).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    settings = _load_settings()
    if settings.any_embedded:
        raise click.ClickException(
            "serve needs DATABASE_URL, REDIS_URL and S3_ENDPOINT; use `chengguan dev` for the embedded services"
        )
    _granian(
        host or settings.app.host,
        port or settings.app.port,
        workers=workers or settings.app.workers,
        reload=False,
    )


@main.command(help="Run the arq worker (outbox jobs, periodic jobs).")
def worker() -> None:
    from arq.worker import run_worker

    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:
        from app.logging import configure_logging
        from backend.worker import WorkerSettings, redis_settings

        configure_logging(settings.app.log_level, settings.app.log_json)

        run_worker(WorkerSettings, redis_settings=redis_settings())  # type: ignore[arg-type]


@main.command(help="Apply database migrations (upgrade to head, or down to --down REV).")
@click.option("--down", "down", default=None, help="Downgrade to this revision (e.g. base).")
@click.option("--revision", default="heads", show_default=True)
def migrate(down: str | None, revision: str) -> None:
    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:
        assert settings.db.url is not None
        if down:
            downgrade_migrations(settings.db.url, down)
            click.echo(f"downgraded to {down}")
        else:
            run_migrations(settings.db.url, revision)
            click.echo(f"upgraded to {revision}")


@main.command(help="Seed the demo city (新洲区 with streets, communities, grids, departments, staff).")
@click.option("--force", is_flag=True, help="Seed again even if the demo city is there.")
def seed(force: bool) -> None:
    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:
        assert settings.db.url is not None
        run_migrations(settings.db.url)
        done = _seed(settings, force=force)
        click.echo("seeded the demo city" if done else "the demo city is already seeded (use --force)")


@main.group(name="import", help="Import regions and unit grids (GeoJSON, CSV).")
def import_group() -> None:
    pass


async def _import(settings: Settings, run: Any) -> Any:
    from backend.db import create_engine, create_session_factory, transaction

    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return await run(session)
    finally:
        await engine.dispose()


def _report_import(result: Any) -> None:
    for level, count in result.counts.items():
        if count:
            click.echo(f"  {level:<10} {count}")
    click.echo(f"imported {result.total} areas")


@import_group.command("geojson", help="Districts, streets, communities and grids from a GeoJSON FeatureCollection.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_geojson_cmd(path: str) -> None:
    import json

    from rich.progress import Progress

    from backend.errors import ValidationFailed
    from backend.geo.importer import import_geojson

    settings = _load_settings()
    with open(path, encoding="utf-8") as f:
        try:
            collection = json.load(f)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path} is not JSON: {exc}") from None
    with embedded_services(settings, stop_on_exit=False) as settings, Progress(transient=True) as bar:
        task = bar.add_task("importing", total=len(collection.get("features") or []))
        try:
            result = asyncio.run(
                _import(
                    settings,
                    lambda s: import_geojson(s, collection, progress=lambda d, t: bar.update(task, completed=d)),
                )
            )
        except ValidationFailed as exc:
            problems = (exc.details or {}).get("problems", [])
            lines = "\n".join(f"  {p['feature']}: {p['message']}" for p in problems[:50])
            raise click.ClickException(f"{exc.message}\n{lines}") from None
    _report_import(result)


@import_group.command("csv", help="Districts, streets or communities from CSV (code,name[,parent_code]).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--level", type=click.Choice(["district", "street", "community"]), required=True)
def import_csv_cmd(path: str, level: str) -> None:
    from backend.errors import ValidationFailed
    from backend.geo.importer import import_regions_csv

    settings = _load_settings()
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    with embedded_services(settings, stop_on_exit=False) as settings:
        try:
            result = asyncio.run(_import(settings, lambda s: import_regions_csv(s, text, level)))
        except ValidationFailed as exc:
            problems = (exc.details or {}).get("problems", [])
            lines = "\n".join(f"  {p['feature']}: {p['message']}" for p in problems[:50])
            raise click.ClickException(f"{exc.message}\n{lines}") from None
    _report_import(result)


@main.group(help="The embedded PostgreSQL, Valkey and S3 servers on their own.")
def services() -> None:
    pass


@services.command("start", help="Start them and print their URLs (they keep running).")
def services_start() -> None:
    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False):
        for name in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
            if name in os.environ:
                click.echo(f"export {name}={os.environ[name]}")


@services.command("stop", help="Stop the embedded services started from this data folder.")
def services_stop() -> None:
    from backend.embedded import EmbeddedServices

    settings = _load_settings()
    root = settings.app.data_dir / "services"
    s = EmbeddedServices(root)
    from backend.embedded import EmbeddedPostgres, EmbeddedS3, EmbeddedValkey

    s.postgres = EmbeddedPostgres(root / "postgres", 0)
    s.valkey = EmbeddedValkey(data_dir=root / "valkey", port=0)
    s.s3 = EmbeddedS3(data_dir=root / "s3", port=0)
    s.stop()
    click.echo("stopped")


@services.command("status", help="Which embedded services are running, and where.")
def services_status() -> None:
    from backend.embedded import EmbeddedPostgres, EmbeddedS3, EmbeddedValkey

    settings = _load_settings()
    root: Path = settings.app.data_dir / "services"
    for name, port in (
        ("postgres", EmbeddedPostgres(root / "postgres", 0).running_port()),
        ("valkey", EmbeddedValkey(data_dir=root / "valkey", port=0).running_port()),
        ("s3", EmbeddedS3(data_dir=root / "s3", port=0).running_port()),
    ):
        click.echo(f"{name:<9} {'running on 127.0.0.1:' + str(port) if port else 'stopped'}")


main.add_command(devices)
main.add_command(staff_group)
main.add_command(evaluation)
main.add_command(toilets_group)
main.add_command(parking_group)

if __name__ == "__main__":
    main()
