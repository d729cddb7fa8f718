"""``chengguan staff`` — staff accounts by hand: unbind a lost or replaced field-app device."""

from __future__ import annotations

import asyncio

import click

from backend.errors import DomainError


def _unbind(username: str) -> str | None:
    from backend.cli import _load_settings, embedded_services
    from backend.db import create_engine, create_session_factory, transaction
    from backend.org.service import unbind_device

    settings = _load_settings()
    with embedded_services(settings, stop_on_exit=False) as settings:

        async def go() -> str | None:
            engine = create_engine(settings)
            try:
                async with transaction(create_session_factory(engine)) as session:
                    return await unbind_device(session, username)
            finally:
                await engine.dispose()

        try:
            return asyncio.run(go())
        except DomainError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None


@click.group(help="Staff accounts: field-app device binding.")
def staff() -> None:
    pass


@staff.command(
    "unbind-device",
    help="Forget USERNAME's bound field-app device; their next sign-in binds the device it comes from. "
    "Tokens of the old device stop working at their next use.",
)
@click.argument("username")
def unbind_device_cmd(username: str) -> None:
    device_id = _unbind(username)
    if device_id is None:
        click.echo(f"{username} had no bound device")
    else:
        click.echo(f"unbound device {device_id} from {username}")
