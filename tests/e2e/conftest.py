"""The admin console in a real browser: Debian's headless Chromium driven by playwright against the served
application (API + console) on a loopback port.

The server runs in the test's own event loop and every request goes through the test's rolled-back
transaction (as the ``client`` fixture does), one request at a time — the browser's parallel requests
share one database connection. Screenshots go to ``test-artifacts/`` (git-ignored).

Chromium is installed by ``scripts/setup`` (``scripts/browser-setup``); the tests skip only where it
cannot be installed (not root, or no apt-get), and fail where setup simply was not run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHENGGUAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def _require_browser() -> None:
    can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not CHROMIUM.exists():
        if can_install:
            pytest.fail(f"{CHROMIUM} is missing: run scripts/setup, which installs chromium and fonts-noto-cjk")
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (apt-get as root is needed)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing from .venv: run scripts/setup")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serialized(app: Any) -> Any:
    """The app with one request at a time (static files aside): they share the test's connection."""
    lock = asyncio.Lock()

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/statics/" in scope["path"] or "/console-static/" in scope["path"]:
            await app(scope, receive, send)
            return
        async with lock:
            await app(scope, receive, send)

    return wrapped


async def screenshot(page: Any, name: str) -> None:
    """The whole page as one picture (the viewport grown to the page, so the fixed sidebar spans it)."""
    await page.wait_for_load_state("networkidle")
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": 1440, "height": int(height)})
    await page.screenshot(path=str(ARTIFACTS / name))


@dataclass
class Console:
    base_url: str
    browser: Any

    async def page_as(self, username: str) -> Any:
        """A fresh browser context (its own cookies) signed in as ``username``."""
        from backend.seed.demo import DEMO_PASSWORD

        context = await self.browser.new_context(
            base_url=self.base_url, locale="zh-CN", viewport={"width": 1440, "height": 1000}
        )
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await page.goto("/admin/login")
        await page.fill("#username", username)
        await page.fill("#password", DEMO_PASSWORD)
        async with page.expect_navigation():
            await page.click("button[type=submit]")
        assert page.url.rstrip("/").endswith("/admin"), page.url
        return page


@pytest.fixture
async def console(
    asgi_app: Any, runtime: Any, redis: Any, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Console]:
    _require_browser()
    import uvicorn
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    real = runtime.session_factory
    runtime.session_factory = session_factory
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(serialized(asgi_app), host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield Console(f"http://127.0.0.1:{port}", browser)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await serving
        runtime.session_factory = real
