"""`chengguan dev` on a fresh data folder: starts everything, answers, and stops cleanly on Ctrl-C;
a second run reuses the data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.embedded import EmbeddedPostgres, free_port

ROOT = Path(__file__).resolve().parents[3]


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "S3_ENDPOINT"}}
    env.update({"CHENGGUAN_DATA_DIR": str(data_dir), "CHENGGUAN_ENV": "development"})
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "dev", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chengguan dev exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"chengguan dev not ready:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


@pytest.mark.slow
def test_dev_serves_everything_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "dev.log"
    proc = _start(data_dir, port, log)
    try:
        _wait_ready(base, proc, log)
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/docs").status_code == 200
        login = httpx.get(f"{base}/admin/login")
        assert login.status_code == 200 and 'name="password"' in login.text
        streets = httpx.get(f"{base}/api/mp/v1/regions/districts/420117/streets").json()["items"]
        assert len(streets) == 15
    finally:
        code = _stop(proc)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "seeding 15 streets" in output and "admin" in output and "Demo@2026" in output
    pg = EmbeddedPostgres(data_dir / "services" / "postgres", 0)
    assert pg.running_port() is None, "PostgreSQL was stopped"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=1)

    # A second run reuses the data: no second seeding.
    log2 = tmp_path / "dev2.log"
    proc = _start(data_dir, port, log2)
    try:
        _wait_ready(base, proc, log2)
    finally:
        assert _stop(proc) == 0
    assert "seeding 15 streets" not in log2.read_text(errors="replace")
