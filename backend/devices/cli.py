"""``chengguan devices`` — the device registry by hand: add, rotate, revoke, list.

A new or rotated secret is printed once; put it on the device (it is stored encrypted only).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import DomainError

T = TypeVar("T")


def _run(work: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run ``work(session, secret_key)`` in one committed transaction against the configured
    (or embedded) database."""
    from backend.cli import _load_settings, embedded_services
    from backend.db import create_engine, create_session_factory, transaction
    from backend.devices.seed import seed_reference_data

    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:

        async def go() -> T:
            engine = create_engine(settings)
            try:
                async with transaction(create_session_factory(engine)) as session:
                    await seed_reference_data(session)
                    return await work(session, settings.app.secret_key)
            finally:
                await engine.dispose()

        try:
            return asyncio.run(go())
        except DomainError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None


def _object(value: str) -> tuple[str, str]:
    kind, sep, object_id = value.partition(":")
    if not sep or not kind or not object_id:
        raise click.BadParameter("use KIND:ID, e.g. toilet:XZ-WC-0001")
    return kind, object_id


def _attrs(pairs: tuple[str, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"use NAME=VALUE, got {pair!r}")
        try:
            attrs[name] = json.loads(raw)
        except ValueError:
            attrs[name] = raw
    return attrs


@click.group(
    help="The device registry: add, rotate, revoke, list. A new or rotated secret is printed once; "
    "put it on the device (only its encrypted form is stored)."
)
def devices() -> None:
    pass


@devices.command("add", help="Register a device and print its id and secret.")
@click.option("--type", "type_code", required=True, help="Device type, e.g. toilet_sensor, manhole_tilt.")
@click.option("--code", required=True, help="Asset code / serial number (unique).")
@click.option("--name", default=None, help="A name people recognise (default: the code).")
@click.option("--object", "watched", required=True, help="What it watches, KIND:ID (e.g. toilet:XZ-WC-0001).")
@click.option("--lat", type=float, default=None, help="Latitude of the installation (WGS-84).")
@click.option("--lng", type=float, default=None, help="Longitude of the installation (WGS-84).")
@click.option("--interval", type=int, default=None, help="Reporting interval in seconds (default: the type's).")
@click.option("--attr", "attr_pairs", multiple=True, help="Installation attribute NAME=VALUE (e.g. toilet_class=1).")
def add(
    type_code: str,
    code: str,
    name: str | None,
    watched: str,
    lat: float | None,
    lng: float | None,
    interval: int | None,
    attr_pairs: tuple[str, ...],
) -> None:
    from backend.devices import service

    kind, object_id = _object(watched)
    attrs = _attrs(attr_pairs)

    async def work(session: AsyncSession, secret_key: str) -> service.IssuedSecret:
        return await service.add_device(
            session,
            secret_key,
            code=code,
            name=name or code,
            type_code=type_code,
            object_kind=kind,
            object_id=object_id,
            lat=lat,
            lng=lng,
            interval_s=interval,
            attrs=attrs,
        )

    issued = _run(work)
    click.echo(f"device_id: {issued.device.id}")
    click.echo(f"code:      {issued.device.code}")
    click.echo(f"secret:    {issued.secret}")
    click.echo("The secret is shown only now; store it on the device.", err=True)


@devices.command("rotate", help="Issue a new secret for DEVICE (id or code); the old one stops working.")
@click.argument("device")
def rotate(device: str) -> None:
    from backend.devices import service

    async def work(session: AsyncSession, secret_key: str) -> service.IssuedSecret:
        return await service.rotate_secret(session, secret_key, device)

    issued = _run(work)
    click.echo(f"device_id: {issued.device.id}")
    click.echo(f"secret:    {issued.secret}")
    click.echo(f"version:   {issued.device.secret_version}")


@devices.command("revoke", help="Refuse DEVICE (id or code) from now on.")
@click.argument("device")
def revoke(device: str) -> None:
    from backend.devices import service

    async def work(session: AsyncSession, _: str) -> str:
        revoked = await service.revoke_device(session, device)
        return f"revoked {revoked.code} ({revoked.id})"

    click.echo(_run(work))


@devices.command("list", help="List devices.")
@click.option("--type", "type_code", default=None)
@click.option("--status", type=click.Choice(["active", "revoked"]), default=None)
@click.option("--object-kind", default=None)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(type_code: str | None, status: str | None, object_kind: str | None, limit: int, as_json: bool) -> None:
    from backend.devices import service

    async def work(session: AsyncSession, _: str) -> list[dict[str, Any]]:
        rows = await service.list_devices(
            session, type_code=type_code, status=status, object_kind=object_kind, limit=limit
        )
        return [
            {
                "id": str(d.id),
                "code": d.code,
                "type": d.type_code,
                "object": f"{d.object_kind}:{d.object_id}",
                "status": d.status,
                "online": d.online,
                "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
                "interval_s": d.interval_s,
                "firmware": d.firmware,
            }
            for d in rows
        ]

    rows = _run(work)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            seen = row["last_seen_at"] or "never"
            state = "online" if row["online"] else "offline"
            click.echo(
                f"{row['code']:<20} {row['type']:<17} {row['object']:<28} {row['status']:<8} {state:<8} "
                f"{seen} {row['id']}"
            )


devices.add_command(list_, "list")
