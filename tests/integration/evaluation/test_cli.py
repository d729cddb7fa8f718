"""``chengguan evaluation recompute`` against the test database, with its progress on stderr."""

from __future__ import annotations

import asyncio

import asyncpg
from click.testing import CliRunner

from backend.cli import main


def _cleanup(dsn: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DELETE FROM evaluation_daily WHERE day BETWEEN '2030-01-01' AND '2030-01-05'")
            await conn.execute("DELETE FROM evaluation_days WHERE day BETWEEN '2030-01-01' AND '2030-01-05'")
        finally:
            await conn.close()

    asyncio.run(run())


def test_recompute_reports_progress_per_chunk(services: dict[str, str]) -> None:
    dsn = services["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    try:
        result = CliRunner().invoke(
            main, ["evaluation", "recompute", "--from", "2030-01-01", "--to", "2030-01-05", "--chunk-days", "2"]
        )
        assert result.exit_code == 0, result.output
        assert "[1/3] 2030-01-01…2030-01-02" in result.stderr and "[3/3] 2030-01-05…2030-01-05" in result.stderr
        assert "rolled up 5 days" in result.stdout

        async def covered() -> int:
            conn = await asyncpg.connect(dsn)
            try:
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM evaluation_days WHERE day BETWEEN '2030-01-01' AND '2030-01-05'"
                    )
                )
            finally:
                await conn.close()

        assert asyncio.run(covered()) == 5
        wrong = CliRunner().invoke(main, ["evaluation", "recompute", "--from", "2030-01-05", "--to", "2030-01-01"])
        assert wrong.exit_code != 0 and "invalid_period" in wrong.output
    finally:
        _cleanup(dsn)
